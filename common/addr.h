/* Mail address parsing and normalisation (RFC 5321 4.1.2, RFC 6531). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_ADDR_H
#define LB_ADDR_H

#include <stddef.h>

#include "common/buf.h"

#define ADDR_LOCAL_MAX 64	/* octets, as written (quotes included) */
#define ADDR_DOMAIN_MAX 255	/* octets, brackets of a literal included */
#define ADDR_LABEL_MAX 63	/* octets per domain label */
#define ADDR_MAX 254		/* whole address: a path is 256 with <> */

/*
 * The two halves of a parsed address.  Both point into the input.
 * local_quoted: the local part is a quoted-string ("a b"@x), quotes
 * included in local.  domain_literal: the domain is [1.2.3.4] or
 * [IPv6:...], brackets included in domain.
 */
struct addr_parts {
	struct span local;
	struct span domain;
	int local_quoted;
	int domain_literal;
};

/*
 * addr_parse: split in (no angle brackets, no surrounding spaces) into
 * local part and domain.  Local part: dot-atom or quoted-string, 1 to 64
 * octets.  Domain: LDH labels (1 to 63 octets each, no leading or
 * trailing hyphen, no trailing dot) up to 255 octets, or an IPv4 or IPv6
 * address literal.  The whole address at most 254 octets (RFC 5321
 * 4.5.3.1.3: a path is at most 256 octets with its angle brackets).
 * UTF-8 is allowed in atoms, quoted strings and labels (SMTPUTF8);
 * malformed UTF-8, NUL and control characters (C0, DEL, C1) are refused.  Returns 0 and fills *out, or -1 with a static message in
 * *why_out (may be NULL).  Pure: no I/O, no allocation.
 */
int addr_parse(struct span in, struct addr_parts *out, const char **why_out)
    __attribute__((warn_unused_result));

/*
 * addr_normalize: the canonical stored form of the C string in: domain
 * and local part with ASCII letters lowercased (we treat local parts as
 * case-insensitive: "Bob@X" and "bob@x" are one mailbox; UTF-8 bytes are
 * kept as they are); a quoted local part whose content is a valid
 * dot-atom loses its quotes, any other keeps them with a backslash only
 * before '"' and '\'.  Writes a NUL-terminated string into out.  Returns
 * 0, or -1 if in is not a valid address or the result does not fit
 * outsz (USERDB_ADDR_MAX always suffices).  in and out may not overlap.
 */
int addr_normalize(const char *in, char *out, size_t outsz)
    __attribute__((warn_unused_result));

/*
 * addr_split_tag: split an unquoted local part at the first delim:
 * "bob+lists" -> base "bob", tag "lists".  Returns 1 and both spans if
 * split, 0 if delim is 0, absent, first (nothing before it) or the local
 * part is quoted (base is then the whole local part, tag empty).
 */
int addr_split_tag(struct span local, char delim, struct span *base_out,
    struct span *tag_out);

/*
 * addr_strip_tag: for a normalised address "bob+x@dom" write "bob@dom"
 * into out.  Returns 1 if a tag was removed, 0 if there was none (out
 * holds the address unchanged), -1 if addr is malformed or out too small.
 */
int addr_strip_tag(const char *addr, char delim, char *out, size_t outsz);

/*
 * addr_domain_valid: 1 if d is a domain name as addr_parse accepts it
 * (LDH or UTF-8 labels, no address literal), else 0 with *why_out.
 */
int addr_domain_valid(struct span d, const char **why_out);

/*
 * addr_domain_normalize: validate the domain name in and write it
 * lowercased into out.  0, or -1 (invalid or too long for outsz).
 */
int addr_domain_normalize(const char *in, char *out, size_t outsz)
    __attribute__((warn_unused_result));

/* addr_domain_of: the part after the last '@' of a normalised address
 * (the address itself if it holds no '@'). */
const char *addr_domain_of(const char *addr);

#endif
