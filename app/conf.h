/*
 * conf.h — the configuration: one table of keys, each with its type, bounds,
 * default and documentation line. Values come from the defaults, then the
 * configuration file, then GUICHET_<KEY> environment variables. The database
 * connection also honours libpq's PG* variables when `database` is empty.
 */
#ifndef GUICHET_CONF_H
#define GUICHET_CONF_H

#include <stddef.h>

struct conf {
	char	*listen_address;
	long long listen_port;
	long long workers;
	long long max_connections;
	long long connection_timeout;
	long long request_timeout;
	long long max_header_bytes;
	long long request_body_max;
	long long shutdown_grace;
	char	*user;		/* "": keep the account started as */
	int	 seccomp;
	char	*static_dir;
	char	*migrations_dir;
	char	*forms_dir;
	char	*database;
	int	 read_only;	/* the database is a hot standby (README) */
	long long db_connect_timeout;
	long long db_statement_timeout;
	int	 access_log;
	char	*log_level;
	char	*frame_ancestors;
	int	 behind_tls;
	char	*trusted_proxies;	/* canonical addresses, space-separated */
	char	*public_url;
	long long session_idle_minutes;
	long long session_max_hours;
	long long argon2_opslimit;
	long long argon2_memlimit_kib;
	long long invitation_hours;
	long long reset_minutes;
	int	 mail_log;
	char	*smtp_host;
	long long smtp_port;
	char	*mail_from;
	long long digest_hour;
	char	*export_dir;
	long long export_workers;
	char	*import_dir;
	long long import_max_bytes;
	long long import_workers;
	char	*map_tiles_url;
	char	*map_tiles_attribution;
	char	*widget_frame_ancestors;
	long long api_rate_limit;	/* requests per minute per API token */
	char	*open_data_publisher;
	char	*open_data_contact;
	char	*open_data_license;
};

extern struct conf conf;

/*
 * Loads defaults, then path (NULL: no file), then the environment (envp,
 * NULL-terminated). On error returns -1 and writes one line naming the key or
 * variable and the value's problem into err; conf is then left unusable.
 */
int	 conf_load(const char *path, char *const *envp, char *err, size_t errlen);
/* Parses one file's text (for tests); `name` is used in messages. */
int	 conf_load_text(const char *name, const char *text, char *err,
	    size_t errlen);
/* Prints the effective configuration, one "key = value  # source" line each. */
void	 conf_print(void);
void	 conf_free(void);

/* Key i's value as text into out ("" for unset strings); its source name. */
const char *conf_value(size_t i, char *out, size_t outlen);

/* Key table introspection, for tests that compare it with conf/guichet.conf. */
size_t	 conf_nkeys(void);
const char *conf_key_name(size_t);

#endif
