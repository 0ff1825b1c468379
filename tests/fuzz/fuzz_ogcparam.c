/*
 * libFuzzer target: the bbox and datetime values of OGC API Features
 * (app/ogcparam.c). The bytes, as a text, go to both parsers; what they
 * accept must make sense: a finite box, lower corner first, in degrees when
 * asked; bounds that are short, terminated RFC 3339 texts which read back
 * as instants themselves (that is what PostgreSQL will be given), but for
 * the day after 9999-12-31, which has five digits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ogcparam.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_bbox(const char *s, int geographic)
{
	struct ogcp_bbox	b;
	char			msg[300];

	if (ogcp_bbox_parse(s, geographic, &b, msg, sizeof(msg)) != 0) {
		if (msg[0] == '\0')
			abort();
		return;
	}
	if (!isfinite(b.minx) || !isfinite(b.miny) || !isfinite(b.maxx) ||
	    !isfinite(b.maxy) || b.minx > b.maxx || b.miny > b.maxy)
		abort();
	if (geographic && (b.minx < -180 || b.maxx > 180 || b.miny < -90 ||
	    b.maxy > 90))
		abort();
}

/* A bound the parser made must itself be read as an instant. */
static void
check_bound(const char *bound, size_t size)
{
	struct ogcp_interval	iv;
	char			msg[300];

	if (memchr(bound, '\0', size) == NULL)
		abort();
	if (bound[0] == '\0' || strcmp(bound, "10000-01-01T00:00:00Z") == 0)
		return;
	if (ogcp_datetime_parse(bound, &iv, msg, sizeof(msg)) != 0)
		abort();
}

static void
check_datetime(const char *s)
{
	struct ogcp_interval	iv;
	char			msg[300];

	if (ogcp_datetime_parse(s, &iv, msg, sizeof(msg)) != 0) {
		if (msg[0] == '\0' || iv.lo[0] != '\0' || iv.hi[0] != '\0' ||
		    iv.hi_before[0] != '\0')
			abort();
		return;
	}
	if (iv.lo[0] == '\0' && iv.hi[0] == '\0' && iv.hi_before[0] == '\0')
		abort();		/* ../.. is no filter: refused */
	if (iv.hi[0] != '\0' && iv.hi_before[0] != '\0')
		abort();		/* one upper bound at most */
	check_bound(iv.lo, sizeof(iv.lo));
	check_bound(iv.hi, sizeof(iv.hi));
	check_bound(iv.hi_before, sizeof(iv.hi_before));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	check_bbox(s, 1);
	check_bbox(s, 0);
	check_datetime(s);
	free(s);
	return 0;
}
