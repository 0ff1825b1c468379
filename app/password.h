/*
 * password.h — password hashing (Argon2id, libsodium crypto_pwhash_str with
 * the configured limits) and the password policy.
 */
#ifndef GUICHET_PASSWORD_H
#define GUICHET_PASSWORD_H

#include <sodium.h>

/*
 * Prepares the hash verified when the account is unknown, at least as
 * costly as the configured limits and as the stored hashes' (passes and
 * KiB; 0 when unknown). Call at start-up.
 */
void	 pw_init(unsigned long long stored_ops, size_t stored_mem_kib);
/* Hashes pw into out; returns -1 when memory is short. */
int	 pw_hash(const char *pw, char out[crypto_pwhash_STRBYTES]);
/*
 * Verifies pw against hash (NULL: an unknown account or one without a
 * password: verified against a dummy hash, so that it costs the same time,
 * and always fails). Returns 1 on a match. *rehash is set when the hash was
 * made with other limits than the configured ones.
 */
int	 pw_verify(const char *hash, const char *pw, int *rehash);
/*
 * The policy: at least 12 characters, at most 256 bytes, not the e-mail
 * address. Returns NULL when pw is acceptable, else a French message.
 */
const char *pw_policy(const char *pw, const char *email);

#endif
