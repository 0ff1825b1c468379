/*
 * ogcparam.h — the query values of OGC API Features that are more than a
 * number or a word: bbox ("minx,miny,maxx,maxy") and datetime (an RFC 3339
 * instant or interval). Parsed here, from untrusted text, into values that
 * go to PostgreSQL as parameters; a fuzz target drives both parsers.
 */
#ifndef GUICHET_OGCPARAM_H
#define GUICHET_OGCPARAM_H

/* A bounding box; z bounds of a 6-number box are read and ignored. */
struct ogcp_bbox {
	double	minx, miny, maxx, maxy;
};

/*
 * Parses a bbox of 4 or 6 finite decimal numbers, lower corner first.
 * geographic: longitudes in [-180, 180] and latitudes in [-90, 90].
 * Returns 0, or -1 with a French message in msg.
 */
int	 ogcp_bbox_parse(const char *s, int geographic, struct ogcp_bbox *out,
	    char *msg, size_t msglen);

/*
 * A datetime filter as bounds for a timestamptz column: lo (inclusive),
 * hi (inclusive) or hi_before (exclusive: the day after a date given
 * without a time), each "" when open. Texts are RFC 3339 date-times that
 * PostgreSQL reads as they are.
 */
struct ogcp_interval {
	char	lo[40];
	char	hi[40];
	char	hi_before[40];
};

/*
 * Parses "instant", "start/end", "../end", "start/.." (an empty side is
 * open too). An instant is a date-time (Z or an offset) or a full date,
 * which stands for that whole day (UTC). Returns 0, or -1 with msg.
 */
int	 ogcp_datetime_parse(const char *s, struct ogcp_interval *out,
	    char *msg, size_t msglen);

#endif
