/*
 * The form engine on the project's own forms/: every field type, the
 * conditions and the cross-field rules, and the refusal of bad form files
 * with the path of the fault.
 */
#include "harness.h"

#include <stdlib.h>

#include "form.h"

static int
setup(void **state)
{
	char err[512];

	(void)state;
	if (form_load_all("forms", err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	form_free_all();
	return 0;
}

/* Validates text as a submission (complete) and returns the problem codes. */
static char *
codes(const char *guichet, const char *attrs, int complete, int warnings)
{
	json_t *a = json_loads(attrs, 0, NULL), *clean, *e = json_array(),
	    *w = json_array(), *p;
	char *out = calloc(1, 1024);
	size_t i;

	assert_non_null(a);
	form_validate(form_find(guichet), a, complete, &clean, e, w);
	json_array_foreach(warnings ? w : e, i, p) {
		strcat(out, i ? " " : "");
		strcat(out, json_string_value(json_object_get(p, "field")) ?
		    json_string_value(json_object_get(p, "field")) : "-");
		strcat(out, ":");
		strcat(out, json_string_value(json_object_get(p, "code")));
	}
	json_decref(a);
	json_decref(clean);
	json_decref(e);
	json_decref(w);
	return out;
}

#define EXPECT(g, attrs, complete, warn, want) do {			\
	char *got = codes(g, attrs, complete, warn);			\
	if (strcmp(got, want) != 0)					\
		fail_msg("%s %s:\n got  [%s]\n want [%s]", g, attrs, got, want); \
	free(got);							\
} while (0)

static void
valid_erp(void **state)
{
	(void)state;
	EXPECT("erp", "{\"libelle\":\"Théâtre du Capitole\",\"categorie\":\"2\","
	    "\"type_principal\":\"L\",\"capacite_d_accueil_du_public\":1156,"
	    "\"numero_siret\":\"73282932000074\",\"public\":true}", 1, 0, "");
}

static void
required_fields_only_on_submission(void **state)
{
	(void)state;
	EXPECT("erp", "{}", 1, 0, "libelle:field_required "
	    "categorie:field_required type_principal:field_required");
	EXPECT("erp", "{}", 0, 0, "");
	EXPECT("erp", "{\"libelle\":\"   \"}", 1, 0, "libelle:field_required "
	    "categorie:field_required type_principal:field_required");
}

static void
types_bounds_patterns(void **state)
{
	(void)state;
	EXPECT("erp", "{\"libelle\":42}", 0, 0, "libelle:field_type");
	EXPECT("erp", "{\"libelle\":\"x\"}", 0, 0, "libelle:field_too_short");
	EXPECT("erp", "{\"categorie\":\"6\"}", 0, 0, "categorie:field_enum");
	EXPECT("erp", "{\"capacite_d_accueil_du_public\":-1}", 0, 0,
	    "capacite_d_accueil_du_public:field_min");
	EXPECT("erp", "{\"capacite_d_accueil_du_public\":\"12\"}", 0, 0,
	    "capacite_d_accueil_du_public:field_type");
	EXPECT("erp", "{\"capacite_d_accueil_du_public\":12.5}", 0, 0,
	    "capacite_d_accueil_du_public:field_type");
	EXPECT("erp", "{\"capacite_d_accueil_du_public\":12.0}", 0, 0, "");
	EXPECT("erp", "{\"capacite_d_accueil_du_public\":9e56}", 0, 0,
	    "capacite_d_accueil_du_public:field_type");
	EXPECT("erp", "{\"public\":\"oui\"}", 0, 0, "public:field_type");
	EXPECT("erp", "{\"numero_siret\":\"73282932000075\"}", 0, 0,
	    "numero_siret:field_siret");
	EXPECT("erp", "{\"numero_siret\":\"35600000000051\"}", 0, 0, "");
	EXPECT("erp", "{\"numero_siret\":\"35600000000048\"}", 0, 0, "");
	EXPECT("erp", "{\"code_postal\":\"3100\"}", 0, 0,
	    "code_postal:field_pattern");
	EXPECT("erp", "{\"insee_commune\":\"3155\"}", 0, 0,
	    "insee_commune:field_insee");
	EXPECT("erp", "{\"types_secondaires\":[\"N\",\"N\"]}", 0, 0,
	    "types_secondaires:field_duplicate_item");
	EXPECT("erp", "{\"types_secondaires\":[\"ZZ\"]}", 0, 0,
	    "types_secondaires:field_enum");
	EXPECT("erp", "{\"types_secondaires\":\"N\"}", 0, 0,
	    "types_secondaires:field_type");
	EXPECT("erp", "{\"libelle\":\"a\\u0001b\"}", 0, 0,
	    "libelle:field_control_character");
	EXPECT("adresse", "{\"suffixe\":\"-bis\"}", 0, 0, "suffixe:field_pattern");
	EXPECT("adresse", "{\"cad_parcelles\":\"310555000AB0001|31555000AB0002\"}",
	    0, 0, "");
	EXPECT("adresse", "{\"cad_parcelles\":\"31555AB1\"}", 0, 0,
	    "cad_parcelles:field_pattern");
}

static void
conditions(void **state)
{
	(void)state;
	/* Accommodation only for types with accommodation. */
	EXPECT("erp", "{\"type_principal\":\"M\",\"capacite_d_hebergement\":4}",
	    0, 0, "capacite_d_hebergement:field_not_allowed");
	EXPECT("erp", "{\"type_principal\":\"O\",\"capacite_d_hebergement\":4}",
	    0, 0, "");
	/* A position is required, except for a lieu-dit (99999). */
	EXPECT("adresse", "{\"commune_insee\":\"31555\",\"voie_nom\":\"Rue du "
	    "Taur\",\"numero\":12}", 1, 0, "position:field_required");
	EXPECT("adresse", "{\"commune_insee\":\"31555\",\"voie_nom\":\"Lieu-dit "
	    "Borderouge\",\"numero\":99999}", 1, 0, "");
}

static void
cross_rules(void **state)
{
	(void)state;
	/* Above the category's maximum is an error; below its minimum a
	 * warning (the regulation counts the staff too). */
	EXPECT("erp", "{\"categorie\":\"2\",\"capacite_d_accueil_du_public\":"
	    "1600}", 0, 0, "categorie:categorie_capacite");
	EXPECT("erp", "{\"categorie\":\"1\",\"capacite_d_accueil_du_public\":"
	    "1156}", 0, 0, "");
	EXPECT("erp", "{\"categorie\":\"1\",\"capacite_d_accueil_du_public\":"
	    "1156}", 0, 1, "categorie:categorie_capacite_basse");
	EXPECT("erp", "{\"categorie\":\"4\",\"capacite_d_accueil_du_public\":"
	    "301}", 0, 0, "categorie:categorie_capacite");
	EXPECT("erp", "{\"categorie\":\"3\",\"capacite_d_accueil_du_public\":"
	    "301}", 0, 0, "");
	/* 4 vs 5 by the type's threshold: warnings. */
	EXPECT("erp", "{\"categorie\":\"5\",\"type_principal\":\"N\","
	    "\"capacite_d_accueil_du_public\":250}", 0, 1,
	    "categorie:categorie_seuil_5e");
	EXPECT("erp", "{\"categorie\":\"4\",\"type_principal\":\"N\","
	    "\"capacite_d_accueil_du_public\":150}", 0, 1,
	    "categorie:categorie_seuil_5e");
	EXPECT("erp", "{\"categorie\":\"5\",\"type_principal\":\"N\","
	    "\"capacite_d_accueil_du_public\":150}", 0, 1, "");
	EXPECT("erp", "{\"categorie\":\"5\",\"type_principal\":\"J\","
	    "\"capacite_d_accueil_du_public\":30,\"capacite_d_hebergement\":10}",
	    0, 1, "categorie:categorie_seuil_5e");
	EXPECT("erp", "{\"categorie\":\"4\",\"type_principal\":\"PN\"}", 0, 1,
	    "categorie:petit_erp_5e");
	EXPECT("equipco", "{\"categorie\":\"Santé\",\"nature\":\"Stade\"}", 0, 1,
	    "nature:nature_inconnue");
	EXPECT("equipco", "{\"categorie\":\"Sport\",\"nature\":\"Stade\"}", 0, 1,
	    "");
	EXPECT("adresse", "{\"numero\":10000}", 0, 1, "numero:numero_plage");
	EXPECT("adresse", "{\"numero\":0}", 0, 1, "numero:numero_plage");
	EXPECT("adresse", "{\"numero\":100000}", 0, 0, "numero:field_max");
	EXPECT("adresse", "{\"suffixe\":\"à\"}", 0, 0, "suffixe:field_pattern");
	EXPECT("adresse", "{\"suffixe\":\"Aé\"}", 0, 0, "");
	EXPECT("adresse", "{\"voie_nom\":\"Rue du Taur\",\"lieudit_complement_nom\":"
	    "\"rue du taur\"}", 0, 1, "lieudit_complement_nom:lieudit_egal_voie");
	EXPECT("adresse", "{\"voie_nom\":\"RUE DU TAUR\"}", 0, 1,
	    "voie_nom:voie_majuscules");
}

static void
clean_values_and_defaults(void **state)
{
	json_t *a = json_loads("{\"libelle\":\"  Piscine  \",\"inconnu\":1,"
	    "\"categorie\":\"5\",\"type_principal\":\"PX\"}", 0, NULL);
	json_t *clean, *e = json_array(), *w = json_array();

	(void)state;
	form_validate(form_find("erp"), a, 1, &clean, e, w);
	assert_string_equal(json_string_value(json_object_get(clean, "libelle")),
	    "Piscine");
	assert_null(json_object_get(clean, "inconnu"));
	assert_string_equal(json_string_value(json_object_get(clean,
	    "etat_de_l_objet")), "En service");
	assert_int_equal(json_array_size(e), 0);
	json_decref(a);
	json_decref(clean);
	json_decref(e);
	json_decref(w);
}

static void
expect_bad_form(const char *text, const char *needle)
{
	char err[512];
	json_t *def = json_loads(text, 0, NULL);
	struct form *f;

	assert_non_null(def);
	f = form_parse("t.json", def, err, sizeof(err));
	json_decref(def);
	assert_null(f);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle);
}

#define FIELD "{\"name\":\"a\",\"label\":\"A\",\"type\":\"text\",\"export\":{\"x\":\"a\"}}"
#define GEO "\"geometry\":{\"types\":[\"Point\"],\"commune_field\":\"c\"}"
#define CFIELD "{\"name\":\"c\",\"label\":\"C\",\"type\":\"insee_commune\",\"export\":{\"x\":\"c\"}}"
#define REVIEW(a, mode, days) "\"review\":{\"authorities\":[" a "],\"mode\":\"" \
	mode "\",\"due_days\":" days "},"
#define SDIS "{\"code\":\"sdis\",\"label\":\"SDIS\",\"kinds\":[\"sdis\"]}"
#define FORM_WITH(review) "{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\"," \
	review GEO ",\"fields\":[" FIELD "," CFIELD "]}"

static void
bad_form_files_name_the_fault(void **state)
{
	(void)state;
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD ",{\"name\":\"b\",\"label\":\"B\","
	    "\"type\":\"txt\",\"export\":{\"x\":\"b\"}}]}", "fields[2].type");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD "," FIELD "]}", "fields[2].name");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD ",{\"name\":\"b\",\"label\":\"B\","
	    "\"type\":\"text\",\"pattern\":\"([\",\"export\":{\"x\":\"b\"}}]}",
	    "fields[2].pattern");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD ",{\"name\":\"b\",\"label\":\"B\","
	    "\"type\":\"text\",\"lenght\":3,\"export\":{\"x\":\"b\"}}]}",
	    "unknown key \"lenght\"");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD ",{\"name\":\"b\",\"label\":\"B\","
	    "\"type\":\"text\",\"required_if\":{\"field\":\"zz\",\"in\":[1]},"
	    "\"export\":{\"x\":\"b\"}}]}", "fields[2].required_if.field");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    REVIEW(SDIS, "any", "5")
	    GEO ",\"fields\":[" FIELD "," CFIELD "],\"rules\":[{\"code\":\"r\","
	    "\"kind\":\"magic\",\"level\":\"error\",\"message\":\"m\"}]}",
	    "rules[0].kind");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    GEO ",\"fields\":[" FIELD "," CFIELD ",{\"name\":\"b\",\"label\":\"B\","
	    "\"type\":\"text\"}]}", "fields[2].export");
	expect_bad_form("{\"guichet\":\"x\",\"title\":\"X\",\"name_field\":\"a\","
	    "\"geometry\":{\"types\":[\"Line\"],\"commune_field\":\"c\"},"
	    "\"fields\":[" FIELD "," CFIELD "]}", "geometry.types[0]");
}

/* The reviewing authorities: who moderates each guichet, checked at load. */
static void
review_authorities(void **state)
{
	const struct form *erp = form_find("erp"), *eq = form_find("equipco"),
	    *ad = form_find("adresse");
	const char *label;

	(void)state;
	assert_true(form_review_all(erp));
	assert_int_equal(form_authority_count(erp), 2);
	assert_int_equal(form_authority_of_kind(erp, "sdis"), 0);
	assert_int_equal(form_authority_of_kind(erp, "ddt"), 1);
	assert_int_equal(form_authority_of_kind(erp, "commune"), -1);
	assert_string_equal(form_authority(erp, 1, &label), "ddt");
	assert_string_equal(label, "DDT(M)");
	assert_false(form_review_all(eq));
	assert_int_equal(form_authority_of_kind(eq, "openig"), 0);
	assert_int_equal(form_authority_of_kind(eq, "ddt"), 0);
	assert_int_equal(form_authority_of_kind(ad, "epci"), 0);
	assert_int_equal(form_authority_of_kind(ad, "sdis"), -1);
	assert_true(form_due_days(ad) > 0);
	assert_string_equal(form_field_label(erp, "libelle"),
	    "Nom de l'établissement");
	assert_null(form_field_label(erp, "nope"));
}

static void
bad_review_names_the_fault(void **state)
{
	(void)state;
	expect_bad_form(FORM_WITH(""), "review: an object");
	expect_bad_form(FORM_WITH(REVIEW("", "any", "5")), "review.authorities");
	expect_bad_form(FORM_WITH(REVIEW(SDIS, "some", "5")), "review.mode");
	expect_bad_form(FORM_WITH(REVIEW(SDIS, "all", "0")), "review.due_days");
	expect_bad_form(FORM_WITH(REVIEW(SDIS, "all", "400")), "review.due_days");
	expect_bad_form(FORM_WITH(REVIEW(SDIS ",{\"code\":\"sdis_bis\",\"label\":"
	    "\"S2\",\"kinds\":[\"sdis\"]}", "all", "5")),
	    "review.authorities[1].kinds[0]: a kind reviews for one authority");
	expect_bad_form(FORM_WITH(REVIEW("{\"code\":\"sd\",\"label\":\"S\","
	    "\"kinds\":[\"SDIS 31\"]}", "all", "5")),
	    "review.authorities[0].kinds[0]");
	expect_bad_form(FORM_WITH(REVIEW("{\"code\":\"admin\",\"label\":\"S\","
	    "\"kinds\":[\"sdis\"]}", "all", "5")), "review.authorities[0]");
	expect_bad_form(FORM_WITH(REVIEW("{\"code\":\"sd\",\"label\":\"S\","
	    "\"kinds\":[\"sdis\"],\"who\":1}", "all", "5")),
	    "unknown key \"who\"");
	/* Codes travel in PostgreSQL arrays and tell authorities apart. */
	expect_bad_form(FORM_WITH(REVIEW("{\"code\":\"s d\",\"label\":\"S\","
	    "\"kinds\":[\"sdis\"]}", "all", "5")), "review.authorities[0]: code");
	expect_bad_form(FORM_WITH(REVIEW(SDIS ",{\"code\":\"sdis\",\"label\":"
	    "\"D\",\"kinds\":[\"ddt\"]}", "all", "5")),
	    "review.authorities[1].code: already used");
}

/* The first error's message for attrs (validated as a draft). */
static char *
first_message(const char *guichet, const char *attrs)
{
	json_t *a = json_loads(attrs, 0, NULL), *clean, *e = json_array(),
	    *w = json_array();
	char *out;

	assert_non_null(a);
	form_validate(form_find(guichet), a, 0, &clean, e, w);
	out = strdup(json_string_value(json_object_get(json_array_get(e, 0),
	    "message")) ? json_string_value(json_object_get(json_array_get(e,
	    0), "message")) : "");
	json_decref(a);
	json_decref(clean);
	json_decref(e);
	json_decref(w);
	return out;
}

/*
 * A value outside a list is named in the message, so that an import
 * report says what to map; long values are cut on a character, control
 * characters blanked.
 */
static void
enum_message_names_the_value(void **state)
{
	char *m;

	(void)state;
	m = first_message("erp", "{\"categorie\":\"cinquième\"}");
	assert_string_equal(m, "« Catégorie » : « cinquième » n'est pas une "
	    "valeur de la liste.");
	free(m);
	m = first_message("erp", "{\"types_secondaires\":[\"N\",\"Z\\tZ\"]}");
	assert_string_equal(m, "« Types secondaires » : « Z Z » n'est pas une "
	    "valeur de la liste.");
	free(m);
	m = first_message("erp", "{\"types_secondaires\":[7]}");
	assert_string_equal(m, "« Types secondaires » contient une valeur hors "
	    "de la liste.");
	free(m);
	/* 59 ASCII bytes then "é" (2 bytes) would end at byte 61: cut before. */
	m = first_message("erp", "{\"categorie\":\""
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "éé\"}");
	assert_string_equal(m, "« Catégorie » : « "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "… » n'est pas une valeur de la liste.");
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_erp),
		cmocka_unit_test(required_fields_only_on_submission),
		cmocka_unit_test(types_bounds_patterns),
		cmocka_unit_test(enum_message_names_the_value),
		cmocka_unit_test(conditions),
		cmocka_unit_test(cross_rules),
		cmocka_unit_test(clean_values_and_defaults),
		cmocka_unit_test(bad_form_files_name_the_fault),
		cmocka_unit_test(review_authorities),
		cmocka_unit_test(bad_review_names_the_fault),
	};

	return cmocka_run_group_tests_name("form", tests, setup, teardown);
}
