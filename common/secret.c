/* Password hashing and random values on libsodium; passwords kept in wiped memory. */
/* SPDX-License-Identifier: ISC */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

_Static_assert(crypto_pwhash_argon2id_STRBYTES == USERDB_HASH_MAX,
    "USERDB_HASH_MAX must hold a crypto_pwhash string");

/* No 0 O o, 1 l I: a person copies these from a screen. */
static const char secret_alphabet[] =
    "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

void
secret_init(void)
{
	if (sodium_init() < 0)
		fatal("libsodium cannot be initialised");
}

static int
secret_limits_ok(unsigned long long opslimit, uint64_t memlimit,
    const char **why_out)
{
	if (opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
	    opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX) {
		*why_out = "hash_opslimit out of range";
		return 0;
	}
	if (memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
	    memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
		*why_out = "hash_memlimit out of range";
		return 0;
	}
	return 1;
}

int
secret_hash_password(const char *pw, size_t pwlen,
    unsigned long long opslimit, uint64_t memlimit,
    char out[USERDB_HASH_MAX], const char **why_out)
{
	const char *dummy;

	if (why_out == NULL)
		why_out = &dummy;
	if (!secret_limits_ok(opslimit, memlimit, why_out))
		return -1;
	if (crypto_pwhash_argon2id_str(out, pw, pwlen, opslimit,
	    (size_t)memlimit) != 0) {
		*why_out = "out of memory while hashing the password";
		return -1;
	}
	return 0;
}

static int
secret_hash_ok(const char *hash)
{
	return hash != NULL && memchr(hash, '\0', USERDB_HASH_MAX) != NULL &&
	    strncmp(hash, crypto_pwhash_argon2id_STRPREFIX,
	    strlen(crypto_pwhash_argon2id_STRPREFIX)) == 0;
}

int
secret_verify_password(const char *hash, const char *pw, size_t pwlen)
{
	if (!secret_hash_ok(hash))
		return -1;
	/* libsodium says -1 for both "no match" and "malformed"; a hash
	 * that needs_rehash cannot parse is the malformed one. */
	if (crypto_pwhash_argon2id_str_verify(hash, pw, pwlen) == 0)
		return 1;
	if (crypto_pwhash_argon2id_str_needs_rehash(hash,
	    crypto_pwhash_argon2id_OPSLIMIT_MIN,
	    crypto_pwhash_argon2id_MEMLIMIT_MIN) < 0)
		return -1;
	return 0;
}

int
secret_needs_rehash(const char *hash, unsigned long long opslimit,
    uint64_t memlimit)
{
	const char *why;

	if (!secret_hash_ok(hash))
		return -1;
	if (!secret_limits_ok(opslimit, memlimit, &why))
		return -1;
	switch (crypto_pwhash_argon2id_str_needs_rehash(hash, opslimit,
	    (size_t)memlimit)) {
	case 0:
		return 0;
	case 1:
		return 1;
	default:
		return -1;
	}
}

void
secret_random_password(char *out, size_t n)
{
	size_t i;

	BUG_ON(n < 2);
	for (i = 0; i + 1 < n; i++)
		out[i] = secret_alphabet[randombytes_uniform(
		    sizeof(secret_alphabet) - 1)];
	out[n - 1] = '\0';
}

void
secret_random_id(uint64_t *id_out)
{
	do
		randombytes_buf(id_out, sizeof(*id_out));
	while (*id_out == 0);
}

void
secret_str_init(struct secret_str *s)
{
	s->p = NULL;
	s->len = 0;
}

void
secret_str_fini(struct secret_str *s)
{
	if (s->p != NULL) {
		sodium_memzero(s->p, SECRET_PW_MAX + 1);
		sodium_free(s->p);
	}
	s->p = NULL;
	s->len = 0;
}

static void
secret_str_alloc(struct secret_str *s)
{
	secret_str_fini(s);
	if ((s->p = sodium_malloc(SECRET_PW_MAX + 1)) == NULL)
		fatal("out of memory (sodium_malloc)");
	s->len = 0;
}

void
secret_str_random(struct secret_str *s, size_t len)
{
	BUG_ON(len == 0 || len > SECRET_PW_MAX);
	secret_str_alloc(s);
	secret_random_password(s->p, len + 1);
	s->len = len;
}

int
secret_str_read_fd(struct secret_str *s, int fd, const char **why_out)
{
	char c;
	ssize_t r;
	int cr_over = 0;

	secret_str_alloc(s);
	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why_out = "cannot read the password";
			goto fail;
		}
		if (r == 0 || c == '\n')
			break;
		if (c == '\0') {
			*why_out = "password contains a NUL byte";
			goto fail;
		}
		/* A CR just past the limit may still be the CR of CRLF. */
		if (s->len == SECRET_PW_MAX && c == '\r' && !cr_over) {
			cr_over = 1;
			continue;
		}
		if (s->len == SECRET_PW_MAX || cr_over) {
			*why_out = "password longer than 1024 bytes";
			goto fail;
		}
		s->p[s->len++] = c;
	}
	if (s->len > 0 && s->p[s->len - 1] == '\r')
		s->len--;
	s->p[s->len] = '\0';
	c = 0;
	return 0;
fail:
	c = 0;
	secret_str_fini(s);
	return -1;
}

int
secret_str_read_tty(struct secret_str *s, const char *prompt,
    const char **why_out)
{
	struct termios old, quiet;
	int fd, rc, saved = 0;

	/* XXX: a signal while echo is off leaves it off; the shell's "reset"
	 * fixes that.  Not worth a handler in a one-shot CLI. */
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
		*why_out = "no terminal to read the password from "
		    "(use --password-stdin)";
		return -1;
	}
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		saved = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	rc = secret_str_read_fd(s, fd, why_out);
	if (write(fd, "\n", 1) < 0) {
		/* as above */
	}
	if (saved)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return rc;
}
