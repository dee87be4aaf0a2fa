/* num_oracle_main -- a line-at-a-time driver for libs/num, compared against Python's decimal by
 * num_oracle_test.py. Reads "op a [b]" lines from stdin and prints one line per input:
 *   parse a    -> "OK <canonical>" | "ERR <NOT_NUMERIC|OVERFLOW|UNDERFLOW|DIGITS>"
 *   add a b    -> same as parse, for a + b        sub a b -> a - b
 *   cmp a b    -> "-1" | "0" | "1"                size a  -> item-size bytes
 * Operands of add/sub/cmp/size that do not parse print "BADINPUT". */
#include <stdio.h>
#include <string.h>

#include "libs/num/num.h"

static const char *
msg_kind(const char *msg)
{
    if (strcmp(msg, DYN_NUM_MSG_NOT_NUMERIC) == 0)
        return "NOT_NUMERIC";
    if (strcmp(msg, DYN_NUM_MSG_OVERFLOW) == 0)
        return "OVERFLOW";
    if (strcmp(msg, DYN_NUM_MSG_UNDERFLOW) == 0)
        return "UNDERFLOW";
    if (strcmp(msg, DYN_NUM_MSG_DIGITS) == 0)
        return "DIGITS";
    return "UNKNOWN";
}

static void
print_result(dyn_err rc, const dyn_num *n, const char *msg)
{
    char text[DYN_NUM_TEXT_MAX];

    if (rc != DYN_OK) {
        printf("ERR %s\n", msg_kind(msg));
        return;
    }
    dyn_num_format(n, text, sizeof text);
    printf("OK %s\n", text);
}

int
main(void)
{
    static char line[1 << 16];

    while (fgets(line, sizeof line, stdin) != NULL) {
        char *op = strtok(line, " \t\r\n"), *a = strtok(NULL, " \t\r\n");
        char *b = strtok(NULL, " \t\r\n");
        const char *msg = NULL;
        dyn_num x, y, r;
        dyn_err rc;

        if (op == NULL)
            continue;
        if (strcmp(op, "parse") == 0) {
            rc = dyn_num_parse(a ? a : "", a ? strlen(a) : 0, &x, &msg);
            print_result(rc, &x, msg);
            continue;
        }
        if (a == NULL || dyn_num_parse(a, strlen(a), &x, NULL) != DYN_OK) {
            printf("BADINPUT\n");
            continue;
        }
        if (strcmp(op, "size") == 0) {
            printf("%zu\n", dyn_num_size(&x));
            continue;
        }
        if (b == NULL || dyn_num_parse(b, strlen(b), &y, NULL) != DYN_OK) {
            printf("BADINPUT\n");
            continue;
        }
        if (strcmp(op, "cmp") == 0) {
            printf("%d\n", dyn_num_cmp(&x, &y));
        } else if (strcmp(op, "add") == 0) {
            rc = dyn_num_add(&x, &y, &r, &msg);
            print_result(rc, &r, msg);
        } else if (strcmp(op, "sub") == 0) {
            rc = dyn_num_sub(&x, &y, &r, &msg);
            print_result(rc, &r, msg);
        } else {
            printf("BADINPUT\n");
        }
    }
    return 0;
}
