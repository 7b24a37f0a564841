/* Shared inside imap_match.c, imap_match_text.c, imap_match_fold.c, imap_sort.c and imap_thread.c: one message's lazily loaded data, text folding, sent dates. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_MATCH_PRIV_H
#define LB_IMAP_MATCH_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/msgcache.h"
#include "imapd/imap_match.h"

/* A blob made from the file for a message that has none (or a corrupt
 * one) may be this big; msgcache bounds it at about 400 KiB. */
#define IMT_BLOB_MAX (1u << 20)
/* Bytes read from the message file at once. */
#define IMT_CHUNK 16384

/* One message while keys are evaluated: the blob (given, or made from
 * the file on first need) and its envelope, loaded once. */
struct imt_msg {
	const struct imap_match_msg *msg;
	int blob_state;			/* 0 not tried, 1 ok, -1 read error */
	struct span blob;
	struct buf built;		/* the blob made from the file */
	int built_used;
	int env_state;			/* 0 not tried, 1 ok, 2 none */
	struct msgcache_env env;
};

void imt_msg_init(struct imt_msg *t, const struct imap_match_msg *msg);
void imt_msg_fini(struct imt_msg *t);
/* imt_msg_blob: 0 and t->blob usable, or -1 (file read failed). */
int imt_msg_blob(struct imt_msg *t);
/* imt_msg_env: 1 and *env_out points at the envelope, 0 if the message
 * has none (an unreadable blob), -1 on a read error. */
int imt_msg_env(struct imt_msg *t, const struct msgcache_env **env_out);

/* imt_fold: append in, UTF-8, case folded (see imap_match_text.c), to
 * out.  Bytes that are not well-formed UTF-8 are copied.  0 or -1
 * (out's cap). */
int imt_fold(struct span in, struct buf *out);
/* imt_fold_cp: the folded code point. */
uint32_t imt_fold_cp(uint32_t cp);

/*
 * imt_finder: a substring search over a stream.  The folded text
 * passes through a window of the last needle-1 bytes plus one chunk,
 * so a match that straddles two reads is found and memory stays at
 * about IMT_CHUNK * 3 whatever the message size.
 */
struct imt_finder {
	struct span needle;		/* folded */
	uint8_t *win;
	size_t wlen, wcap;
	int found;
	uint8_t hold[4];		/* an incomplete UTF-8 sequence */
	size_t nhold;
	struct buf work, folded;
};

void imt_finder_init(struct imt_finder *f, struct span needle);
void imt_finder_fini(struct imt_finder *f);
/* UTF-8 text in any split; 0 or -1 (memory cap) */
int imt_finder_feed(struct imt_finder *f, struct span s);
/* end of one text (an incomplete UTF-8 sequence goes in as bytes) */
int imt_finder_flush(struct imt_finder *f);
/* one whole text: feed and flush */
int imt_finder_text(struct imt_finder *f, struct span s);
/* imt_scan_body: part p's body, transfer-decoded and converted to
 * UTF-8, into f (stops once f->found); 0 or -1 (read error) */
int imt_scan_body(struct imt_msg *t, const struct msgcache_part *p,
    struct imt_finder *f);

/* imt_addr_text: the address list f rendered for searching:
 * "name <mailbox@host>, ..." with encoded words decoded (not folded). */
int imt_addr_text(const struct msgcache_env *env, enum msgcache_field f,
    struct buf *out);

/* imt_text_key: FROM/TO/CC/BCC/SUBJECT/HEADER/BODY/TEXT on a message:
 * 1, 0, or -1 (file read). */
int imt_text_key(struct imt_msg *t, const struct imap_snode *n);

/* imt_read_header_field: the first field called name in the top-level
 * header of the message (unfolded, raw, white space trimmed) appended
 * to out: 1 found, 0 not, -1 read error. */
int imt_read_header_field(struct imt_msg *t, const char *name,
    struct buf *out);

/*
 * imt_sent_date: an RFC 5322 date-time (obsolete forms too: two-digit
 * years, alphabetic zones, missing seconds, comments).  1 with
 * *utc_out (unix seconds) and *days_out (the calendar date as written,
 * days since 1970-01-01); 0 if it does not parse.
 */
int imt_sent_date(struct span s, int64_t *utc_out, int64_t *days_out);

/* imt_sent_time: the sent date of RFC 5256 2.2 (unix seconds, UTC),
 * the internal date when the Date field is missing or does not parse;
 * 0, or -1 on a read error. */
int imt_sent_time(struct imt_msg *t, int64_t *out);

/* floor division for day numbers of negative times */
static inline int64_t
imt_days_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

#endif
