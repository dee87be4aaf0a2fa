#include "libs/err/err.h"

#include "libs/testing/dyn_test.h"

static void
test_columns(void)
{
    DT_EQ_STR(dyn_err_type(DYN_EVALIDATION), "ValidationException");
    DT_EQ_INT(dyn_err_http(DYN_EVALIDATION), 400);
    DT_EQ_INT(dyn_err_grpc(DYN_ENOTABLE), 5);
    DT_EQ_STR(dyn_err_type(DYN_ENOTFOUND), "InternalServerError");   /* internal codes never leak */
    DT_TRUE(dyn_err_retryable(DYN_EUNAVAIL));
    DT_TRUE(!dyn_err_retryable(DYN_ECONDFAIL));
    DT_EQ_STR(dyn_err_name((dyn_err)9999), "?");
}

static void
test_from_type(void)
{
    DT_EQ_INT(dyn_err_from_type("ConditionalCheckFailedException"), DYN_ECONDFAIL);
    DT_EQ_INT(dyn_err_from_type("NoSuchThing"), DYN_EINTERNAL);
}

DT_MAIN({ "columns", test_columns }, { "from type", test_from_type })
