/*
 * submission.h — the three guichets' submissions: drafts (saved whatever
 * their errors), submission (full validation: the form's rules, the
 * geometry's checks, the containing commune, the author's territory, and
 * nearby look-alikes as warnings to confirm), an author's list and reads.
 */
#ifndef GUICHET_SUBMISSION_H
#define GUICHET_SUBMISSION_H

#include <stdint.h>

struct req;

/*
 * SQL: an address's street gets its stable id (voies) as it is saved; the
 * arguments are SQL expressions of the guichet, the commune and the
 * attributes (jsonb).
 */
#define SUB_VOIE_UID(guichet, commune, attrs) \
	"CASE WHEN " guichet " = 'adresse' AND " commune "::text IS NOT NULL AND " \
	"(" attrs ")::jsonb->>'voie_nom' IS NOT NULL THEN guichet_voie(" \
	commune "::text, (" attrs ")::jsonb->>'voie_nom') END"

void	 sub_form(struct req *);
void	 sub_create(struct req *);
void	 sub_list(struct req *);
void	 sub_get(struct req *);
void	 sub_update(struct req *);
/* Sends the stored content of one's record to the reviewers (the
 * transitions submit and resubmit), checked as a save with submit is. */
void	 sub_send(struct req *, int64_t id, long long version);

#endif
