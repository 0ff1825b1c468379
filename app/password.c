/*
 * password.c — Argon2id hashes and the password policy.
 *
 * Verifying costs ~50 ms and 64 MiB at libsodium's interactive limits: that
 * is the point (offline guessing), and the reason logins are throttled. An
 * unknown e-mail address is verified against a hash of a random password so
 * that the answer takes as long as for a wrong password.
 */
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "password.h"
#include "util.h"

static char	dummy[crypto_pwhash_STRBYTES];

void
pw_init(unsigned long long stored_ops, size_t stored_mem_kib)
{
	unsigned long long ops = (unsigned long long)conf.argon2_opslimit;
	size_t		 mem = (size_t)conf.argon2_memlimit_kib;
	unsigned char	 rnd[32];
	char		 pw[65];

	/* As costly as the costliest stored hash: after the limits are
	 * lowered, old hashes must not answer slower than unknown accounts. */
	if (stored_ops > ops)
		ops = stored_ops;
	if (stored_mem_kib > mem)
		mem = stored_mem_kib;
	randombytes_buf(rnd, sizeof(rnd));
	hex_encode(pw, rnd, sizeof(rnd));
	if (crypto_pwhash_str(dummy, pw, strlen(pw), ops, mem * 1024) != 0)
		fatal("cannot compute a password hash: argon2_memlimit_kib "
		    "too large for this machine?");
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(rnd, sizeof(rnd));
}

int
pw_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str(out, pw, strlen(pw),
	    (unsigned long long)conf.argon2_opslimit,
	    (size_t)conf.argon2_memlimit_kib * 1024);
}

int
pw_verify(const char *hash, const char *pw, int *rehash)
{
	int	ok;

	*rehash = 0;
	if (hash == NULL || *hash == '\0') {
		volatile int	sink;

		sink = crypto_pwhash_str_verify(dummy, pw, strlen(pw));
		(void)sink;
		return 0;
	}
	ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
	if (ok && crypto_pwhash_str_needs_rehash(hash,
	    (unsigned long long)conf.argon2_opslimit,
	    (size_t)conf.argon2_memlimit_kib * 1024) != 0)
		*rehash = 1;
	return ok;
}

const char *
pw_policy(const char *pw, const char *email)
{
	size_t	i, chars = 0, len = strlen(pw);

	for (i = 0; i < len; i++)
		chars += ((unsigned char)pw[i] & 0xc0) != 0x80;
	if (chars < 12)
		return "Le mot de passe doit compter au moins 12 caractères.";
	if (len > 256)
		return "Le mot de passe ne doit pas dépasser 256 octets.";
	if (email != NULL && strcasecmp(pw, email) == 0)
		return "Le mot de passe ne doit pas être l'adresse électronique.";
	return NULL;
}
