/*
 * util.c — logging, fatal exits, allocation wrappers and small helpers.
 *
 * Allocation failures are not recoverable in a server that must stay
 * consistent, so the wrappers abort with a message instead of returning NULL:
 * call sites never test for NULL (the Redis zmalloc and Kore kore_malloc way).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum log_level	 min_level = LOG_INFO;
static const char	*level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level l)
{
	min_level = l;
}

/*
 * Log lines go to stderr, one write per line so that lines of concurrent
 * worker threads never interleave: "2026-11-28T12:00:00.123Z info message".
 */
void
log_msg(enum log_level level, const char *fmt, ...)
{
	char		 line[2048];
	struct timespec	 ts;
	struct tm	 tm;
	va_list		 ap;
	int		 n, m, i;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = sizeof(line) - 2 - n;
	/* One event, one line: multi-line messages (libpq's) are folded, and
	 * no control byte from a message can forge a line of its own. */
	for (i = n; i < n + m; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	while (m > 0 && line[n + m - 1] == ' ')
		m--;
	line[n + m] = '\n';
	fwrite(line, 1, n + m + 1, stderr);
}

void
fatal(const char *fmt, ...)
{
	char	msg[1024], *p;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (p = msg; *p != '\0'; p++)		/* one line, whatever a value held */
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	fprintf(stderr, "guichet: %s\n", msg);
	exit(1);
}

static void
oom(size_t n)
{
	fprintf(stderr, "guichet: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	p = realloc(old, nmemb * size != 0 ? nmemb * size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	return xreallocarray(old, n, 1);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static void
buf_grow(struct buf *b, size_t extra)
{
	size_t	want;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	want = b->len + extra + 1;
	if (want <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < want)
		b->cap = b->cap > SIZE_MAX / 2 ? want : b->cap * 2;
	b->data = xrealloc(b->data, b->cap);
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
file_read(const char *path, size_t *len)
{
	struct buf	 b = { 0 };
	char		 chunk[65536];
	FILE		*f;
	size_t		 n;
	int		 err;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	err = ferror(f);
	fclose(f);
	if (err) {
		buf_free(&b);
		errno = EIO;
		return NULL;
	}
	buf_append(&b, "", 0);
	*len = b.len;
	return b.data;
}

int64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
utf8_valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + n;
	unsigned		 c, need, i;
	uint32_t		 cp;

	while (p < end) {
		c = *p++;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else
			return 0;
		if ((size_t)(end - p) < need)
			return 0;
		for (i = 0; i < need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		p += need;
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

int
pgarray_parse(const char *lit, char ***out, size_t *n)
{
	const char	*p, *e;

	*out = NULL;
	*n = 0;
	if (lit == NULL || *lit == '\0')
		return 0;
	if (lit[0] != '{' || lit[strlen(lit) - 1] != '}' || strchr(lit, '"'))
		return -1;
	for (p = lit + 1; *p != '}'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",}");
		if (e == p) {
			pgarray_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrndup(p, e - p);
	}
	return 0;
}

void
pgarray_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
mkdirs(const char *path)
{
	char	*p = xstrdup(path), *s;
	int	 rc = 0;

	for (s = p + 1; *s != '\0' && rc == 0; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0750) != 0 && errno != EEXIST)
				rc = -1;
			*s = '/';
		}
	if (rc == 0 && mkdir(p, 0750) != 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

void
str_strip(char *s)
{
	size_t	n = strlen(s), i = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	s[n] = '\0';
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	memmove(s, s + i, n - i + 1);
}

void
utf8_trim(char *s)
{
	size_t	n = strlen(s), i = n, need;

	/* Back to the start byte of the last sequence, if it is one. */
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return;
	need = ((unsigned char)s[i - 1] & 0xe0) == 0xc0 ? 1 :
	    ((unsigned char)s[i - 1] & 0xf0) == 0xe0 ? 2 :
	    ((unsigned char)s[i - 1] & 0xf8) == 0xf0 ? 3 : 0;
	if (n - i != need)
		s[i - 1] = '\0';
}

void
bg_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
	sigset_t	all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(t, NULL, fn, arg) != 0)
		fatal("cannot start the %s thread", what);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int
bg_nap(atomic_int *running, int ms)
{
	for (; ms > 0 && atomic_load(running); ms -= 100)
		usleep(100000);
	return atomic_load(running);
}
