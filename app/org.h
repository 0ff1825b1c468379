/*
 * org.h — member organisations and their people: the platform admin manages
 * organisations; an organisation's admin (org_admin) invites and manages its
 * own members, their roles and territories, without the platform admin.
 */
#ifndef GUICHET_ORG_H
#define GUICHET_ORG_H

struct req;

void	 org_kinds(struct req *);
void	 org_list(struct req *);
void	 org_create(struct req *);
void	 org_get(struct req *);
void	 org_update(struct req *);
void	 org_members(struct req *);
void	 org_invite(struct req *);
void	 org_service_account(struct req *);
void	 org_events(struct req *);
void	 org_user_update(struct req *);
void	 org_user_token(struct req *);

/* 1 when s is 9 digits with a valid Luhn check digit. */
int	 org_siren_ok(const char *s);

#endif
