-- Open data (OGC API Features at /ogc): the published objects of a guichet
-- are read page by page in id order and counted at each page; the last
-- change to a guichet dates its answers (Last-Modified).
CREATE INDEX submissions_published_idx ON submissions (guichet, id)
	WHERE state = 'validated' AND operation = 'create';
CREATE INDEX submissions_guichet_updated_idx ON submissions (guichet, updated_at);
