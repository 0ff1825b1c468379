/*
 * routes.c — THE route table. One row per method and path; what a route
 * accepts (parameters, body) is declared here and nowhere else. Requests for
 * paths not listed fall back to the static files of the web UI (GET, HEAD).
 */
#include "csp.h"
#include "health.h"
#include "route.h"

const struct route route_table[] = {
	{ "GET",  "/healthz",	 health_get, ROLE_PUBLIC, NULL, 0, NULL },
	{ "POST", "/csp-report", csp_report, ROLE_PUBLIC, NULL, 16384,
	    "application/csp-report" },
};

const size_t route_count = sizeof(route_table) / sizeof(route_table[0]);
