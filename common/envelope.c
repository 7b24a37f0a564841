/* Spool envelope: a line-oriented text head, written and parsed here only. */
/* SPDX-License-Identifier: ISC */
#include "common/envelope.h"

#include <inttypes.h>
#include <string.h>

static const char *const body_names[] = { "7bit", "8bitmime", "binarymime" };
static const char *const ret_names[] = { "", "full", "hdrs" };

static int
env_clean(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0')
			return 0;
	return 1;
}

/* "key value\n", or nothing when the value is empty and optional. */
static int
env_put(struct buf *out, const char *key, struct span v, int always)
{
	if (!env_clean(v))
		return -1;
	if (v.n == 0 && !always)
		return 0;
	if (buf_addstr(out, key) != 0)
		return -1;
	if (v.n && (buf_add(out, " ", 1) != 0 || buf_addspan(out, v) != 0))
		return -1;
	return buf_add(out, "\n", 1);
}

static int
env_put_notify(struct buf *out, unsigned n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ ENV_NOTIFY_NEVER, "never" }, { ENV_NOTIFY_SUCCESS, "success" },
		{ ENV_NOTIFY_FAILURE, "failure" }, { ENV_NOTIFY_DELAY, "delay" },
	};
	size_t i;
	int first = 1;

	if (n == 0)
		return 0;
	if (buf_addstr(out, " notify=") != 0)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(n & names[i].bit))
			continue;
		if (buf_addf(out, "%s%s", first ? "" : ",", names[i].name) != 0)
			return -1;
		first = 0;
	}
	return 0;
}

int
envelope_write(const struct envelope *env, struct buf *out)
{
	size_t i;

	if (buf_addf(out, "LBENV 1\n") != 0 ||
	    env_put(out, "id", env->id, 1) != 0 ||
	    buf_addf(out, "arrival %" PRId64 "\n", env->arrival) != 0 ||
	    env_put(out, "from", env->from, 1) != 0 ||
	    buf_addf(out, "body %s\n", body_names[env->body]) != 0 ||
	    (env->smtputf8 && buf_addstr(out, "smtputf8 1\n") != 0) ||
	    (env->ret != ENV_RET_NONE &&
	    buf_addf(out, "ret %s\n", ret_names[env->ret]) != 0) ||
	    env_put(out, "envid", env->envid, 0) != 0 ||
	    env_put(out, "auth", env->auth, 0) != 0)
		return -1;
	if (env->client_ip.n) {
		if (!env_clean(env->helo) || !env_clean(env->client_ip) ||
		    memchr(env->client_ip.p, ' ', env->client_ip.n) != NULL ||
		    buf_addstr(out, "client ") != 0 ||
		    buf_addspan(out, env->client_ip) != 0 ||
		    (env->helo.n && (buf_add(out, " ", 1) != 0 ||
		    buf_addspan(out, env->helo) != 0)) ||
		    buf_add(out, "\n", 1) != 0)
			return -1;
	}
	for (i = 0; i < env->n_rcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		/* Spaces separate fields: an address with a space (quoted
		 * local part) or an ORCPT with one cannot be stored. */
		if (!env_clean(r->addr) || !env_clean(r->orcpt) ||
		    r->addr.n == 0 || memchr(r->addr.p, ' ', r->addr.n) ||
		    (r->orcpt.n && memchr(r->orcpt.p, ' ', r->orcpt.n)) ||
		    buf_addstr(out, "rcpt ") != 0 ||
		    buf_addspan(out, r->addr) != 0 ||
		    env_put_notify(out, r->notify) != 0 ||
		    (r->orcpt.n && (buf_addstr(out, " orcpt=") != 0 ||
		    buf_addspan(out, r->orcpt) != 0)) ||
		    buf_add(out, "\n", 1) != 0)
			return -1;
	}
	return buf_add(out, "\n", 1);
}

int
envelope_notify_parse(struct span s, unsigned *out)
{
	size_t i = 0;
	unsigned v = 0;

	while (i <= s.n) {
		size_t j = i;
		struct span w;

		while (j < s.n && s.p[j] != ',')
			j++;
		w = span_make(s.p + i, j - i);
		if (span_eq_ci(w, "never"))
			v |= ENV_NOTIFY_NEVER;
		else if (span_eq_ci(w, "success"))
			v |= ENV_NOTIFY_SUCCESS;
		else if (span_eq_ci(w, "failure"))
			v |= ENV_NOTIFY_FAILURE;
		else if (span_eq_ci(w, "delay"))
			v |= ENV_NOTIFY_DELAY;
		else
			return -1;
		i = j + 1;
	}
	if ((v & ENV_NOTIFY_NEVER) && v != ENV_NOTIFY_NEVER)
		return -1;
	*out = v;
	return 0;
}

static int
env_int(struct span s, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (s.n == 0 || s.n > 18)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return 0;
}

static enum parse_rc
env_bad(const char **why, const char *msg)
{
	*why = msg;
	return PARSE_ERR;
}

/* "rcpt ADDR [notify=...] [orcpt=...]" */
static int
env_rcpt(struct span v, struct envelope_rcpt *r)
{
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	while (i < v.n && v.p[i] != ' ')
		i++;
	r->addr = span_make(v.p, i);
	if (r->addr.n == 0)
		return -1;
	while (i < v.n) {
		size_t j = ++i;
		struct span f;

		while (j < v.n && v.p[j] != ' ')
			j++;
		f = span_make(v.p + i, j - i);
		if (f.n > 7 && memcmp(f.p, "notify=", 7) == 0) {
			if (envelope_notify_parse(span_make(f.p + 7, f.n - 7),
			    &r->notify) != 0)
				return -1;
		} else if (f.n > 6 && memcmp(f.p, "orcpt=", 6) == 0) {
			r->orcpt = span_make(f.p + 6, f.n - 6);
		} else {
			return -1;
		}
		i = j;
	}
	return 0;
}

static enum parse_rc
env_field(struct span k, struct span v, struct envelope *env,
    const char **why)
{
	size_t i;

	if (span_eq(k, "id")) {
		env->id = v;
	} else if (span_eq(k, "arrival")) {
		if (env_int(v, &env->arrival) != 0)
			return env_bad(why, "bad arrival time");
	} else if (span_eq(k, "from")) {
		env->from = v;
	} else if (span_eq(k, "body")) {
		for (i = 0; i < 3 && !span_eq(v, body_names[i]); i++)
			;
		if (i == 3)
			return env_bad(why, "bad body type");
		env->body = (enum envelope_body)i;
	} else if (span_eq(k, "smtputf8")) {
		if (!span_eq(v, "1"))
			return env_bad(why, "bad smtputf8 value");
		env->smtputf8 = 1;
	} else if (span_eq(k, "ret")) {
		if (span_eq(v, "full"))
			env->ret = ENV_RET_FULL;
		else if (span_eq(v, "hdrs"))
			env->ret = ENV_RET_HDRS;
		else
			return env_bad(why, "bad ret value");
	} else if (span_eq(k, "envid")) {
		env->envid = v;
	} else if (span_eq(k, "auth")) {
		env->auth = v;
	} else if (span_eq(k, "client")) {
		for (i = 0; i < v.n && v.p[i] != ' '; i++)
			;
		env->client_ip = span_make(v.p, i);
		env->helo = i < v.n ? span_make(v.p + i + 1, v.n - i - 1) :
		    span_make(v.p, 0);
	} else if (span_eq(k, "rcpt")) {
		if (env->n_rcpts == env->max_rcpts)
			return env_bad(why, "too many recipients");
		if (env_rcpt(v, &env->rcpts[env->n_rcpts]) != 0)
			return env_bad(why, "bad rcpt line");
		env->n_rcpts++;
	} else {
		return env_bad(why, "unknown envelope key");
	}
	return PARSE_OK;
}

enum parse_rc
envelope_parse(struct span in, struct envelope *env, size_t *body_off,
    const char **why)
{
	struct envelope_rcpt *rcpts = env->rcpts;
	size_t max = env->max_rcpts, off = 0, nl;
	int first = 1, have_id = 0;

	memset(env, 0, sizeof(*env));
	env->rcpts = rcpts;
	env->max_rcpts = max;
	for (;;) {
		struct span line, k, v;
		size_t sp;
		enum parse_rc rc;

		if (!span_find_byte(span_make(in.p + off, in.n - off), '\n',
		    &nl)) {
			if (in.n - off > ENVELOPE_MAX_BYTES ||
			    in.n > ENVELOPE_MAX_BYTES)
				return env_bad(why, "envelope too long");
			return PARSE_MORE;
		}
		line = span_make(in.p + off, nl);
		off += nl + 1;
		if (off > ENVELOPE_MAX_BYTES)
			return env_bad(why, "envelope too long");
		if (first) {
			if (!span_eq(line, "LBENV 1"))
				return env_bad(why, "not a Letterbox envelope");
			first = 0;
			continue;
		}
		if (line.n == 0)
			break;
		if (span_has_nul(line) || memchr(line.p, '\r', line.n))
			return env_bad(why, "control character in envelope");
		if (!span_find_byte(line, ' ', &sp))
			sp = line.n;
		k = span_make(line.p, sp);
		v = sp < line.n ? span_make(line.p + sp + 1, line.n - sp - 1) :
		    span_make(line.p + sp, 0);
		if (span_eq(k, "id"))
			have_id = 1;
		if ((rc = env_field(k, v, env, why)) != PARSE_OK)
			return rc;
	}
	if (!have_id || env->id.n == 0)
		return env_bad(why, "envelope has no id");
	if (env->n_rcpts == 0)
		return env_bad(why, "envelope has no recipients");
	*body_off = off;
	return PARSE_OK;
}
