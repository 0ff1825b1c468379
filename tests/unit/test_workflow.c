/*
 * The workflow file: the project's own forms/workflow.json, and the
 * refusal, naming the fault, of files that would open or close a path
 * silently (an unknown action or state, a missing state, a bad "by").
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "workflow.h"

static void
project_workflow(void **state)
{
	const struct wf_transition *w;
	char err[512];

	(void)state;
	if (wf_load("forms", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(w = wf_find("validate"));
	assert_int_equal(w->by, WF_REVIEWER);
	assert_true(wf_leaves(w, "submitted"));
	assert_true(wf_leaves(w, "in_review"));
	assert_false(wf_leaves(w, "draft"));
	assert_false(wf_leaves(w, "validated"));
	assert_non_null(w = wf_find("reject"));
	assert_int_equal(w->comment, WF_COMMENT_REQUIRED);
	assert_true(w->reason);
	assert_int_equal(wf_find("request_changes")->comment,
	    WF_COMMENT_OR_REMARKS);
	assert_int_equal(wf_find("withdraw")->by, WF_AUTHOR);
	assert_null(wf_find("publish"));
	assert_true(wf_reason_ok("doublon"));
	assert_false(wf_reason_ok("bof"));
	assert_false(wf_reason_ok(NULL));
	assert_true(wf_count() >= 7);
	wf_free();
}

#define STATES "\"states\":[{\"code\":\"draft\",\"label\":\"a\"}," \
	"{\"code\":\"submitted\",\"label\":\"a\"},{\"code\":\"in_review\"," \
	"\"label\":\"a\"},{\"code\":\"changes_requested\",\"label\":\"a\"}," \
	"{\"code\":\"validated\",\"label\":\"a\"},{\"code\":\"rejected\"," \
	"\"label\":\"a\"},{\"code\":\"withdrawn\",\"label\":\"a\"},{\"code\":" \
	"\"deleted\",\"label\":\"a\"}]"
#define T(action, from, to, by, comment) "{\"action\":\"" action "\"," \
	"\"label\":\"L\",\"from\":[" from "],\"to\":\"" to "\",\"by\":\"" by \
	"\",\"comment\":\"" comment "\"}"

/* Loads text as dir/workflow.json; returns the error, "" when loaded. */
static char *
load_text(const char *text)
{
	static char err[512];
	char dir[] = "/tmp/wf-XXXXXX", path[64];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/workflow.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	if (wf_load(dir, err, sizeof(err)) == 0)
		wf_free();
	unlink(path);
	rmdir(dir);
	return err;
}

#define EXPECT_FAULT(text, needle) do {					\
	char *e = load_text(text);					\
	if (strstr(e, needle) == NULL)					\
		fail_msg("error \"%s\" does not name \"%s\"", e, needle);\
} while (0)

static void
bad_files_name_the_fault(void **state)
{
	(void)state;
	assert_string_equal(load_text("{" STATES ",\"transitions\":[" T("claim",
	    "\"submitted\"", "in_review", "reviewer", "optional") "]}"), "");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("publish", "\"submitted\"",
	    "validated", "reviewer", "optional") "]}", "transitions[0]");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("claim", "\"submitted\"",
	    "in_review", "reviewer", "optional") "," T("claim", "\"submitted\"",
	    "in_review", "reviewer", "optional") "]}", "transitions[1]");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("claim", "\"sent\"",
	    "in_review", "reviewer", "optional") "]}", "transitions[0].from");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("claim", "\"submitted\"",
	    "reviewed", "reviewer", "optional") "]}", "transitions[0]");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("claim", "\"submitted\"",
	    "in_review", "anyone", "optional") "]}", "transitions[0]");
	/* What an action does is code: its target state is not data. */
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("reject", "\"submitted\"",
	    "validated", "reviewer", "required") "]}", "transitions[0]");
	EXPECT_FAULT("{" STATES ",\"transitions\":[" T("claim", "\"submitted\"",
	    "in_review", "reviewer", "maybe") "]}", "transitions[0]");
	EXPECT_FAULT("{\"states\":[{\"code\":\"draft\",\"label\":\"a\"}],"
	    "\"transitions\":[]}", "states: \"submitted\" is missing");
	EXPECT_FAULT("{" STATES ",\"transitions\":[],\"reject_reasons\":[{"
	    "\"code\":1}]}", "reject_reasons[0]");
	EXPECT_FAULT("{" STATES ",", "line 1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(project_workflow),
		cmocka_unit_test(bad_files_name_the_fault),
	};

	return cmocka_run_group_tests_name("workflow", tests, NULL, NULL);
}
