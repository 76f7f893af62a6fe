/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json-str STRING: prints common/json.c's json_str() of STRING, so that a
 * test can hold scripts/verify.sh's escaper to the same output.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: json-str STRING\n");
		return 2;
	}
	json_str(stdout, argv[1], strlen(argv[1]));
	return fclose(stdout) ? 1 : 0;
}
