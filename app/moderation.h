/*
 * moderation.h — the reviewing authorities' work on submissions: who may
 * see and act on a record (its author, its organisation's admins, the
 * reviewers competent where it lies, platform admins), the transitions of
 * workflow.json and their effects (sign-offs of every authority or of any,
 * amendments applied to the validated object), assignments, the reviewers'
 * queue, bulk decisions, per-record history, diffs and comments, and the
 * dashboard.
 */
#ifndef GUICHET_MODERATION_H
#define GUICHET_MODERATION_H

#include <jansson.h>
#include <stdint.h>

struct form;
struct identity;
struct req;

/*
 * The version a change is made against: the request's "version" member,
 * else its If-Match header ("5", W/"5"); -1 when neither is given, -2
 * (after answering 400) when If-Match is malformed.
 */
long long	 mod_wanted_version(struct req *);
/* Answers 409 stale_version with the record as it now is. */
void		 mod_reply_stale(struct req *, const struct form *, int64_t id);
/*
 * Answers status with the record as the caller may see it, and its ETag;
 * the members of extra (borrowed, may be NULL) are added.
 */
void		 mod_reply_record(struct req *, const struct form *, int64_t id,
		    unsigned status, json_t *extra);

/* The authority (index in the form) who reviews for, -2 for a platform
 * admin, -1 when none (role, scope, kind or territory). */
int		 mod_authority(const struct form *, const struct identity *,
		    const char *commune);

void	 mod_transition(struct req *);	/* POST …/{id}/transitions */
void	 mod_assign(struct req *);	/* POST …/{id}/assignment */
void	 mod_versions(struct req *);	/* GET …/{id}/versions */
void	 mod_diff(struct req *);	/* GET …/{id}/diff */
void	 mod_events(struct req *);	/* GET …/{id}/events */
void	 mod_comments(struct req *);	/* GET …/{id}/comments */
void	 mod_comment_add(struct req *);	/* POST …/{id}/comments */
void	 mod_queue(struct req *);	/* GET /api/v1/queue */
void	 mod_bulk(struct req *);	/* POST …/{guichet}/decisions */
void	 mod_dashboard(struct req *);	/* GET /api/v1/dashboard */

#endif
