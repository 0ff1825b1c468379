/*
 * workflow.c — states and transitions as data.
 *
 * The file is checked whole at start-up, like the forms: every state is
 * one the database knows, every action one the server implements, every
 * from and to a state, so that a typo stops the server instead of opening
 * or closing a path silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"
#include "workflow.h"

/* The states of submissions.state, and the actions moderation.c implements. */
static const char *const known_states[] = { "draft", "submitted", "in_review",
    "changes_requested", "validated", "rejected", "withdrawn", "deleted",
    NULL };
/* The actions moderation.c implements, and the state each one reaches. */
static const char *const known_actions[] = { "submit", "resubmit",
    "withdraw", "claim", "validate", "request_changes", "reject", NULL };
static const char *const action_targets[] = { "submitted", "submitted",
    "withdrawn", "in_review", "validated", "changes_requested", "rejected" };

static json_t			*def;
static struct wf_transition	*trans;
static size_t			 ntrans;

static int
listed(const char *const *list, const char *s)
{
	size_t	i;

	for (i = 0; s != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int
target_ok(const char *action, const char *to)
{
	size_t	i;

	for (i = 0; known_actions[i] != NULL; i++)
		if (strcmp(known_actions[i], action) == 0)
			return to != NULL && strcmp(action_targets[i], to) == 0;
	return 0;
}

static int
declared_state(const char *s)
{
	json_t	*st;
	size_t	 i;

	json_array_foreach(json_object_get(def, "states"), i, st)
		if (s != NULL && strcmp(json_string_value(json_object_get(st,
		    "code")), s) == 0)
			return 1;
	return 0;
}

static int
fail(char *err, size_t errlen, const char *path, const char *what)
{
	snprintf(err, errlen, "%s: %s", path, what);
	wf_free();
	return -1;
}

int
wf_load(const char *dir, char *err, size_t errlen)
{
	static const char *const comments[] = { "optional", "required",
	    "required_without_remarks", NULL };
	json_error_t	 je;
	json_t		*t, *st, *r;
	const char	*s, *c;
	char		*path, what[160];
	size_t		 i, j;
	int		 rc = -1;

	wf_free();
	path = xasprintf("%s/workflow.json", dir);
	if ((def = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
		goto out;
	}
	json_array_foreach(json_object_get(def, "states"), i, st) {
		s = json_string_value(json_object_get(st, "code"));
		if (!listed(known_states, s) || !json_is_string(json_object_get(st,
		    "label"))) {
			snprintf(what, sizeof(what), "states[%zu]: a known code "
			    "and a label are expected", i);
			rc = fail(err, errlen, path, what);
			goto out;
		}
	}
	for (i = 0; known_states[i] != NULL; i++)
		if (!declared_state(known_states[i])) {
			snprintf(what, sizeof(what), "states: \"%s\" is missing",
			    known_states[i]);
			rc = fail(err, errlen, path, what);
			goto out;
		}
	ntrans = json_array_size(json_object_get(def, "transitions"));
	trans = xcalloc(ntrans + 1, sizeof(*trans));
	json_array_foreach(json_object_get(def, "transitions"), i, t) {
		struct wf_transition *w = &trans[i];

		w->action = json_string_value(json_object_get(t, "action"));
		w->label = json_string_value(json_object_get(t, "label"));
		w->to = json_string_value(json_object_get(t, "to"));
		w->from = json_object_get(t, "from");
		s = json_string_value(json_object_get(t, "by"));
		c = json_string_value(json_object_get(t, "comment"));
		snprintf(what, sizeof(what), "transitions[%zu]", i);
		if (!listed(known_actions, w->action) || w->label == NULL ||
		    wf_find(w->action) != w || !target_ok(w->action, w->to) ||
		    !json_is_array(w->from) || s == NULL ||
		    (strcmp(s, "author") && strcmp(s, "reviewer")) ||
		    !listed(comments, c)) {
			strncat(what, ": a known action (once), label, from, its "
			    "to, by (author|reviewer) and comment are expected",
			    sizeof(what) - strlen(what) - 1);
			rc = fail(err, errlen, path, what);
			goto out;
		}
		json_array_foreach(w->from, j, st)
			if (!declared_state(json_string_value(st))) {
				strncat(what, ".from: unknown state",
				    sizeof(what) - strlen(what) - 1);
				rc = fail(err, errlen, path, what);
				goto out;
			}
		w->by = strcmp(s, "author") == 0 ? WF_AUTHOR : WF_REVIEWER;
		w->comment = strcmp(c, "required") == 0 ? WF_COMMENT_REQUIRED :
		    strcmp(c, "optional") == 0 ? WF_COMMENT_OPTIONAL :
		    WF_COMMENT_OR_REMARKS;
		r = json_object_get(t, "reason");
		w->reason = json_is_string(r) &&
		    strcmp(json_string_value(r), "required") == 0;
	}
	json_array_foreach(json_object_get(def, "reject_reasons"), i, r)
		if (!json_is_string(json_object_get(r, "code")) ||
		    !json_is_string(json_object_get(r, "label"))) {
			snprintf(what, sizeof(what), "reject_reasons[%zu]: code "
			    "and label are expected", i);
			rc = fail(err, errlen, path, what);
			goto out;
		}
	rc = 0;
out:
	free(path);
	return rc;
}

void
wf_free(void)
{
	free(trans);
	trans = NULL;
	ntrans = 0;
	json_decref(def);
	def = NULL;
}

json_t *wf_definition(void) { return def; }
size_t wf_count(void) { return ntrans; }
const struct wf_transition *wf_get(size_t i) { return &trans[i]; }

const struct wf_transition *
wf_find(const char *action)
{
	size_t	i;

	for (i = 0; action != NULL && i < ntrans; i++)
		if (trans[i].action != NULL && strcmp(trans[i].action, action) == 0)
			return &trans[i];
	return NULL;
}

int
wf_leaves(const struct wf_transition *w, const char *state)
{
	json_t	*s;
	size_t	 i;

	if (w == NULL)
		return 0;
	json_array_foreach(w->from, i, s)
		if (strcmp(json_string_value(s), state) == 0)
			return 1;
	return 0;
}

int
wf_reason_ok(const char *code)
{
	json_t	*r;
	size_t	 i;

	json_array_foreach(json_object_get(def, "reject_reasons"), i, r)
		if (code != NULL && strcmp(json_string_value(json_object_get(r,
		    "code")), code) == 0)
			return 1;
	return 0;
}

void
wf_get_definition(struct req *r)
{
	http_reply_json(r, 200, json_incref(def));
}
