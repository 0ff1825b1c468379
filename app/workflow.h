/*
 * workflow.h — the states of a submission and the transitions between them,
 * from forms/workflow.json: for each action, the states it leaves, the state
 * it reaches, who takes it (the author or a competent reviewer), whether a
 * comment (or per-field remarks) and a reason are required. The effects of
 * each action are code (moderation.c); who may take it, from where, and
 * with what justification, is data the platform may tighten.
 */
#ifndef GUICHET_WORKFLOW_H
#define GUICHET_WORKFLOW_H

#include <jansson.h>
#include <stddef.h>

enum wf_by { WF_AUTHOR, WF_REVIEWER };
enum wf_comment { WF_COMMENT_OPTIONAL, WF_COMMENT_REQUIRED,
    WF_COMMENT_OR_REMARKS };

struct wf_transition {
	const char	*action;
	const char	*label;
	const char	*to;
	enum wf_by	 by;
	enum wf_comment	 comment;
	int		 reason;	/* a reason from reject_reasons required */
	json_t		*from;		/* state codes */
};

/* Loads dir/workflow.json; -1 with the file and path of the fault in err. */
int		 wf_load(const char *dir, char *err, size_t errlen);
void		 wf_free(void);

json_t		*wf_definition(void);			/* borrowed */
size_t		 wf_count(void);
const struct wf_transition *wf_get(size_t i);
const struct wf_transition *wf_find(const char *action);
/* 1 when the transition may be taken from state. */
int		 wf_leaves(const struct wf_transition *, const char *state);
/* 1 when code is one of the listed reasons for a refusal. */
int		 wf_reason_ok(const char *code);

struct req;
void		 wf_get_definition(struct req *);	/* GET /api/v1/workflow */

#endif
