/*
 * libFuzzer target: the form engine (app/form.c) on the project's forms/,
 * with the bytes as a submission's attributes, as a draft and complete.
 * Run from the project root (the forms are read from forms/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "form.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	err[512];

	(void)argc;
	(void)argv;
	if (form_load_all("forms", err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const guichets[] = { "erp", "equipco", "adresse" };
	json_t		*attrs, *clean, *errors, *warnings;
	size_t		 i;
	int		 complete;

	attrs = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (attrs == NULL)
		return 0;
	for (i = 0; i < 3; i++)
		for (complete = 0; complete < 2; complete++) {
			errors = json_array();
			warnings = json_array();
			form_validate(form_find(guichets[i]), attrs, complete,
			    &clean, errors, warnings);
			json_decref(clean);
			json_decref(errors);
			json_decref(warnings);
		}
	json_decref(attrs);
	return 0;
}
