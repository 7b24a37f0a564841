/* libFuzzer target for common/maildir: name and flag parsing, formatting round trips. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildir_name mn, again;
	char out[MAILDIR_NAME_MAX + 1], fl[64];
	uint64_t letters, back;
	int n;

	if (maildir_name_parse(span_make(data, size), &mn) < 0)
		return 0;
	/* the parts lie inside the input */
	if (mn.base.p != data || mn.base.n > size ||
	    (mn.has_info && mn.info.p + mn.info.n != data + size))
		__builtin_trap();
	if (!mn.has_info || maildir_flags_parse(mn.info, &letters) < 0)
		letters = 0;
	/* formatted flags parse back to the same letters */
	if ((n = maildir_flags_format(letters, fl, sizeof(fl))) < 0 ||
	    maildir_flags_parse(span_make(fl, (size_t)n), &back) < 0 ||
	    back != letters)
		__builtin_trap();
	/* a name with new flags keeps its base and size */
	n = maildir_name_with_flags(span_make(data, size), letters, out,
	    sizeof(out));
	if (n < 0)
		return 0;
	if (maildir_name_parse(span_make(out, (size_t)n), &again) < 0 ||
	    again.base.n != mn.base.n ||
	    memcmp(again.base.p, mn.base.p, mn.base.n) != 0 ||
	    again.has_size != mn.has_size || again.size != mn.size ||
	    !again.has_info)
		__builtin_trap();
	return 0;
}
