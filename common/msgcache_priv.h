/* msgcache internals shared by the parser, the field parsers and the blob reader. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MSGCACHE_PRIV_H
#define LB_MSGCACHE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/msgcache.h"

/*
 * Blob format, version 1.  All integers little-endian.
 *
 *   header   32 bytes: "LBMC", u16 version, u16 flags (0), u32 n_parts,
 *            u32 n_envs, u32 strings_len, u32 reserved (0),
 *            u64 FNV-1a 64 of every byte after the header
 *   parts    n_parts records of MC_PART_SIZE bytes, pre-order
 *   envs     n_envs records of MC_ENV_SIZE bytes
 *   strings  strings_len bytes
 *
 * A ref is u32 offset + u32 length into strings; offset MC_NIL: NIL.
 * Part record: MC_NREFS refs (enum mc_pref), then u64 header_off,
 * body_off, end_off, lines, then u32 n_children, first_child,
 * next_sibling, parent, env (MC_NIL: none), flags (MC_F_*).
 * Env record: MC_NEREFS refs (enum mc_eref).
 * Inside strings, a str16 is u16 length (0xFFFF: NIL) and the bytes;
 * a parameter list is pairs of str16 (name, value), a language list
 * str16s, an address list entries of four str16 (name, adl, mailbox,
 * host).
 */
#define MC_MAGIC "LBMC"
#define MC_NIL 0xFFFFFFFFu
#define MC_STR16_NIL 0xFFFFu
#define MC_HDR_SIZE 32
#define MC_PART_SIZE (MC_NREFS * 8 + 4 * 8 + 6 * 4)
#define MC_ENV_SIZE (MC_NEREFS * 8)
#define MC_F_MESSAGE 1u

enum mc_pref {
	MC_R_TYPE, MC_R_SUBTYPE, MC_R_PARAMS, MC_R_ID, MC_R_DESC, MC_R_ENC,
	MC_R_MD5, MC_R_DISP, MC_R_DISP_PARAMS, MC_R_LANG, MC_R_LOC,
	MC_NREFS
};

enum mc_eref {
	MC_E_DATE, MC_E_SUBJECT, MC_E_IRT, MC_E_MID, MC_E_ADDR,
	MC_NEREFS = MC_E_ADDR + 6
};

struct mc_ref {
	uint32_t off, len;
};

struct mc_part {
	struct mc_ref r[MC_NREFS];
	uint64_t header_off, body_off, end_off, lf_body, lines;
	uint32_t n_children, first_child, next_sibling, parent, env, flags;
	uint32_t last_child;
	uint32_t seen;		/* header fields already taken (first wins) */
};

struct mc_env {
	struct mc_ref r[MC_NEREFS];
};

enum mc_kind { MC_LEAF, MC_MULTI, MC_MESSAGE };

/* One open part, innermost last. */
struct mc_level {
	uint32_t part;
	uint8_t kind, closed, digest;
	uint16_t bnd_n;		/* 0: no usable boundary */
	uint8_t bnd[MSGCACHE_MAX_BOUNDARY];
};

/* A line is kept up to this many bytes for delimiter matching; past it
 * only "is it all white space" is remembered. */
#define MC_KEEP (MSGCACHE_MAX_BOUNDARY + 4)

struct msgcache_parser {
	struct mc_part parts[MSGCACHE_MAX_PARTS];
	struct mc_env envs[MSGCACHE_MAX_PARTS];
	struct mc_level lv[MSGCACHE_MAX_DEPTH];
	uint32_t n_parts, n_envs, depth;
	int in_header, finished;
	uint64_t off, nlf;		/* bytes and LFs so far */
	uint64_t line_start, line_len;
	uint8_t last;			/* last byte of the current line */
	int prev_eol;			/* length of the previous line end */
	uint8_t lbuf[MC_KEEP];
	size_t lbuf_n;
	int tail_bad;
	struct buf field;		/* current header field, unfolded */
	int field_on;
	struct buf strings;
	struct buf tmp, tmp2, tmp3, aname, alocal;		/* scratch for the field parsers */
};

static inline void
mc_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void
mc_put64(uint8_t *b, uint64_t v)
{
	mc_put32(b, (uint32_t)v);
	mc_put32(b + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
mc_get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static inline uint64_t
mc_get64(const uint8_t *b)
{
	return (uint64_t)mc_get32(b) | (uint64_t)mc_get32(b + 4) << 32;
}

/* mc_fnv64: the blob checksum. */
static inline uint64_t
mc_fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* msgcache_parse.c: one complete, unfolded header field of the
 * innermost open part. */
void mc_header_field(struct msgcache_parser *p, struct span name,
    struct span value);
/* msgcache.c: store bytes in the strings area (empty if full). */
struct mc_ref mc_str(struct msgcache_parser *p, const void *data, size_t n);
/* str16 encoding helpers for lists */
int mc_put_str16(struct buf *b, const void *data, size_t n, int nil);
int mc_get_str16(struct span *cur, struct span *out, int *nil_out);

#endif
