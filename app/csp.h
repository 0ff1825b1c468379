/*
 * csp.h — the Content-Security-Policy of every answer, and the endpoint that
 * receives browsers' reports of violations (POST /csp-report).
 */
#ifndef GUICHET_CSP_H
#define GUICHET_CSP_H

struct req;

/* Builds the policy from conf (frame_ancestors). Call once at start-up. */
void		 csp_init(void);
const char	*csp_header(void);
/* 1 when the policy forbids any framing ('none'). */
int		 csp_frames_denied(void);
/* The policy of the embeddable widget page (conf.widget_frame_ancestors). */
const char	*csp_widget_header(void);
void		 csp_report(struct req *);
/* GET /api/v1/ui-config: the settings the web UI reads (map base layer). */
void		 csp_ui_config(struct req *);

#endif
