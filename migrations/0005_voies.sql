-- The streets and lieux-dits that addresses name, each with a stable UUID v4
-- (the BAL id_ban_toponyme; an address's own is submissions.uid, its
-- id_ban_adresse). Two spellings that differ only in case or blanks are one
-- street. Rows are never deleted, so an id is never reused.
CREATE TABLE voies (
	uid		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	commune_insee	text NOT NULL,
	nom		text NOT NULL,
	nom_cle		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (commune_insee, nom_cle)
);

CREATE FUNCTION guichet_voie(commune text, nom text) RETURNS uuid
LANGUAGE sql AS $$
	INSERT INTO voies (commune_insee, nom, nom_cle)
	VALUES (commune, nom, lower(regexp_replace(btrim(nom), '\s+', ' ', 'g')))
	ON CONFLICT (commune_insee, nom_cle) DO UPDATE SET nom = voies.nom
	RETURNING uid
$$;

ALTER TABLE submissions ADD COLUMN voie_uid uuid REFERENCES voies (uid);
