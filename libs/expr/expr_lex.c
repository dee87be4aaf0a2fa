/* libs/expr tokenizer and DynamoDB's reserved-word list. The lexer is context-free: keywords
 * (AND, SET, ...) come out as identifiers and each parser decides what is a keyword where. */
#include "libs/expr/expr_int.h"

#include <pthread.h>
#include <string.h>

/* https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html (sorted,
 * all A-Z, at most 14 letters). Looked up through a hash table built on first use. */
static const char *const reserved_words[] = {

    "ABORT", "ABSOLUTE", "ACTION", "ADD", "AFTER", "AGENT", "AGGREGATE", "ALL",
    "ALLOCATE", "ALTER", "ANALYZE", "AND", "ANY", "ARCHIVE", "ARE", "ARRAY",
    "AS", "ASC", "ASCII", "ASENSITIVE", "ASSERTION", "ASYMMETRIC", "AT", "ATOMIC",
    "ATTACH", "ATTRIBUTE", "AUTH", "AUTHORIZATION", "AUTHORIZE", "AUTO", "AVG", "BACK",
    "BACKUP", "BASE", "BATCH", "BEFORE", "BEGIN", "BETWEEN", "BIGINT", "BINARY",
    "BIT", "BLOB", "BLOCK", "BOOLEAN", "BOTH", "BREADTH", "BUCKET", "BULK",
    "BY", "BYTE", "CALL", "CALLED", "CALLING", "CAPACITY", "CASCADE", "CASCADED",
    "CASE", "CAST", "CATALOG", "CHAR", "CHARACTER", "CHECK", "CLASS", "CLOB",
    "CLOSE", "CLUSTER", "CLUSTERED", "CLUSTERING", "CLUSTERS", "COALESCE", "COLLATE", "COLLATION",
    "COLLECTION", "COLUMN", "COLUMNS", "COMBINE", "COMMENT", "COMMIT", "COMPACT", "COMPILE",
    "COMPRESS", "CONDITION", "CONFLICT", "CONNECT", "CONNECTION", "CONSISTENCY", "CONSISTENT", "CONSTRAINT",
    "CONSTRAINTS", "CONSTRUCTOR", "CONSUMED", "CONTINUE", "CONVERT", "COPY", "CORRESPONDING", "COUNT",
    "COUNTER", "CREATE", "CROSS", "CUBE", "CURRENT", "CURSOR", "CYCLE", "DATA",
    "DATABASE", "DATE", "DATETIME", "DAY", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE",
    "DEFAULT", "DEFERRABLE", "DEFERRED", "DEFINE", "DEFINED", "DEFINITION", "DELETE", "DELIMITED",
    "DEPTH", "DEREF", "DESC", "DESCRIBE", "DESCRIPTOR", "DETACH", "DETERMINISTIC", "DIAGNOSTICS",
    "DIRECTORIES", "DISABLE", "DISCONNECT", "DISTINCT", "DISTRIBUTE", "DO", "DOMAIN", "DOUBLE",
    "DROP", "DUMP", "DURATION", "DYNAMIC", "EACH", "ELEMENT", "ELSE", "ELSEIF",
    "EMPTY", "ENABLE", "END", "EQUAL", "EQUALS", "ERROR", "ESCAPE", "ESCAPED",
    "EVAL", "EVALUATE", "EXCEEDED", "EXCEPT", "EXCEPTION", "EXCEPTIONS", "EXCLUSIVE", "EXEC",
    "EXECUTE", "EXISTS", "EXIT", "EXPLAIN", "EXPLODE", "EXPORT", "EXPRESSION", "EXTENDED",
    "EXTERNAL", "EXTRACT", "FAIL", "FALSE", "FAMILY", "FETCH", "FIELDS", "FILE",
    "FILTER", "FILTERING", "FINAL", "FINISH", "FIRST", "FIXED", "FLATTERN", "FLOAT",
    "FOR", "FORCE", "FOREIGN", "FORMAT", "FORWARD", "FOUND", "FREE", "FROM",
    "FULL", "FUNCTION", "FUNCTIONS", "GENERAL", "GENERATE", "GET", "GLOB", "GLOBAL",
    "GO", "GOTO", "GRANT", "GREATER", "GROUP", "GROUPING", "HANDLER", "HASH",
    "HAVE", "HAVING", "HEAP", "HIDDEN", "HOLD", "HOUR", "IDENTIFIED", "IDENTITY",
    "IF", "IGNORE", "IMMEDIATE", "IMPORT", "IN", "INCLUDING", "INCLUSIVE", "INCREMENT",
    "INCREMENTAL", "INDEX", "INDEXED", "INDEXES", "INDICATOR", "INFINITE", "INITIALLY", "INLINE",
    "INNER", "INNTER", "INOUT", "INPUT", "INSENSITIVE", "INSERT", "INSTEAD", "INT",
    "INTEGER", "INTERSECT", "INTERVAL", "INTO", "INVALIDATE", "IS", "ISOLATION", "ITEM",
    "ITEMS", "ITERATE", "JOIN", "KEY", "KEYS", "LAG", "LANGUAGE", "LARGE",
    "LAST", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT", "LENGTH", "LESS",
    "LEVEL", "LIKE", "LIMIT", "LIMITED", "LINES", "LIST", "LOAD", "LOCAL",
    "LOCALTIME", "LOCALTIMESTAMP", "LOCATION", "LOCATOR", "LOCK", "LOCKS", "LOG", "LOGED",
    "LONG", "LOOP", "LOWER", "MAP", "MATCH", "MATERIALIZED", "MAX", "MAXLEN",
    "MEMBER", "MERGE", "METHOD", "METRICS", "MIN", "MINUS", "MINUTE", "MISSING",
    "MOD", "MODE", "MODIFIES", "MODIFY", "MODULE", "MONTH", "MULTI", "MULTISET",
    "NAME", "NAMES", "NATIONAL", "NATURAL", "NCHAR", "NCLOB", "NEW", "NEXT",
    "NO", "NONE", "NOT", "NULL", "NULLIF", "NUMBER", "NUMERIC", "OBJECT",
    "OF", "OFFLINE", "OFFSET", "OLD", "ON", "ONLINE", "ONLY", "OPAQUE",
    "OPEN", "OPERATOR", "OPTION", "OR", "ORDER", "ORDINALITY", "OTHER", "OTHERS",
    "OUT", "OUTER", "OUTPUT", "OVER", "OVERLAPS", "OVERRIDE", "OWNER", "PAD",
    "PARALLEL", "PARAMETER", "PARAMETERS", "PARTIAL", "PARTITION", "PARTITIONED", "PARTITIONS", "PATH",
    "PERCENT", "PERCENTILE", "PERMISSION", "PERMISSIONS", "PIPE", "PIPELINED", "PLAN", "POOL",
    "POSITION", "PRECISION", "PREPARE", "PRESERVE", "PRIMARY", "PRIOR", "PRIVATE", "PRIVILEGES",
    "PROCEDURE", "PROCESSED", "PROJECT", "PROJECTION", "PROPERTY", "PROVISIONING", "PUBLIC", "PUT",
    "QUERY", "QUIT", "QUORUM", "RAISE", "RANDOM", "RANGE", "RANK", "RAW",
    "READ", "READS", "REAL", "REBUILD", "RECORD", "RECURSIVE", "REDUCE", "REF",
    "REFERENCE", "REFERENCES", "REFERENCING", "REGEXP", "REGION", "REINDEX", "RELATIVE", "RELEASE",
    "REMAINDER", "RENAME", "REPEAT", "REPLACE", "REQUEST", "RESET", "RESIGNAL", "RESOURCE",
    "RESPONSE", "RESTORE", "RESTRICT", "RESULT", "RETURN", "RETURNING", "RETURNS", "REVERSE",
    "REVOKE", "RIGHT", "ROLE", "ROLES", "ROLLBACK", "ROLLUP", "ROUTINE", "ROW",
    "ROWS", "RULE", "RULES", "SAMPLE", "SATISFIES", "SAVE", "SAVEPOINT", "SCAN",
    "SCHEMA", "SCOPE", "SCROLL", "SEARCH", "SECOND", "SECTION", "SEGMENT", "SEGMENTS",
    "SELECT", "SELF", "SEMI", "SENSITIVE", "SEPARATE", "SEQUENCE", "SERIALIZABLE", "SESSION",
    "SET", "SETS", "SHARD", "SHARE", "SHARED", "SHORT", "SHOW", "SIGNAL",
    "SIMILAR", "SIZE", "SKEWED", "SMALLINT", "SNAPSHOT", "SOME", "SOURCE", "SPACE",
    "SPACES", "SPARSE", "SPECIFIC", "SPECIFICTYPE", "SPLIT", "SQL", "SQLCODE", "SQLERROR",
    "SQLEXCEPTION", "SQLSTATE", "SQLWARNING", "START", "STATE", "STATIC", "STATUS", "STORAGE",
    "STORE", "STORED", "STREAM", "STRING", "STRUCT", "STYLE", "SUB", "SUBMULTISET",
    "SUBPARTITION", "SUBSTRING", "SUBTYPE", "SUM", "SUPER", "SYMMETRIC", "SYNONYM", "SYSTEM",
    "TABLE", "TABLESAMPLE", "TEMP", "TEMPORARY", "TERMINATED", "TEXT", "THAN", "THEN",
    "THROUGHPUT", "TIME", "TIMESTAMP", "TIMEZONE", "TINYINT", "TO", "TOKEN", "TOTAL",
    "TOUCH", "TRAILING", "TRANSACTION", "TRANSFORM", "TRANSLATE", "TRANSLATION", "TREAT", "TRIGGER",
    "TRIM", "TRUE", "TRUNCATE", "TTL", "TUPLE", "TYPE", "UNDER", "UNDO",
    "UNION", "UNIQUE", "UNIT", "UNKNOWN", "UNLOGGED", "UNNEST", "UNPROCESSED", "UNSIGNED",
    "UNTIL", "UPDATE", "UPPER", "URL", "USAGE", "USE", "USER", "USERS",
    "USING", "UUID", "VACUUM", "VALUE", "VALUED", "VALUES", "VARCHAR", "VARIABLE",
    "VARIANCE", "VARINT", "VARYING", "VIEW", "VIEWS", "VIRTUAL", "VOID", "WAIT",
    "WHEN", "WHENEVER", "WHERE", "WHILE", "WINDOW", "WITH", "WITHIN", "WITHOUT",
    "WORK", "WRAPPED", "WRITE", "YEAR", "ZONE",
};

#define N_RESERVED (sizeof reserved_words / sizeof reserved_words[0])
#define RESERVED_MAX 16         /* longest word that can be reserved (bytes of a packed key) */
#define RESERVED_SLOTS 2048     /* power of two, load < 0.3: most lookups probe one slot */

/* A word of up to 16 letters, upper-cased and zero-padded into two integers, so a lookup is one
 * pass over the name and two compares; no strcasecmp. */
typedef struct word_key {
    uint64_t w[2];
} word_key;

static uint16_t reserved_slot[RESERVED_SLOTS];   /* index + 1 into reserved_words; 0 = empty */
static word_key reserved_key[N_RESERVED];
static pthread_once_t reserved_once = PTHREAD_ONCE_INIT;
static bool reserved_ready;   /* set (release) when the table is built: skips pthread_once */

/* false when name cannot be a reserved word (a byte that is not a letter). */
static bool
word_pack(const char *name, size_t len, word_key *k)
{
    unsigned char buf[RESERVED_MAX] = { 0 };

    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)name[i] & ~0x20u;   /* ASCII upper case */
        if (c - 'A' >= 26u)
            return false;
        buf[i] = (unsigned char)c;
    }
    memcpy(k->w, buf, sizeof buf);
    return true;
}

static uint32_t
word_hash(const word_key *k)
{
    uint64_t h = k->w[0] * 0x9e3779b97f4a7c15u ^ k->w[1] * 0xc2b2ae3d27d4eb4fu;
    return (uint32_t)(h >> 40) & (RESERVED_SLOTS - 1);
}

static void
reserved_build(void)
{
    for (size_t i = 0; i < N_RESERVED; i++) {
        word_key *k = &reserved_key[i];
        (void)word_pack(reserved_words[i], strlen(reserved_words[i]), k);
        uint32_t h = word_hash(k);
        while (reserved_slot[h] != 0)
            h = (h + 1) & (RESERVED_SLOTS - 1);
        reserved_slot[h] = (uint16_t)(i + 1);
    }
    __atomic_store_n(&reserved_ready, true, __ATOMIC_RELEASE);
}

bool
dyn_expr_is_reserved(const char *name, size_t len)
{
    word_key k;

    if (len == 0 || len > RESERVED_MAX || !word_pack(name, len, &k))
        return false;
    if (!__atomic_load_n(&reserved_ready, __ATOMIC_ACQUIRE))
        pthread_once(&reserved_once, reserved_build);
    for (uint32_t h = word_hash(&k);; h = (h + 1) & (RESERVED_SLOTS - 1)) {
        uint16_t s = reserved_slot[h];
        if (s == 0)
            return false;
        if (reserved_key[s - 1].w[0] == k.w[0] && reserved_key[s - 1].w[1] == k.w[1])
            return true;
    }
}

/* Bits per byte: CC_WORD [A-Za-z0-9_], CC_START [A-Za-z_], CC_DIGIT [0-9], CC_SPACE [ \t\r\n]. */
const uint8_t expr_cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 0, 0, 8, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The grammar words, recognised once here; case-insensitive as in DynamoDB. Letters compare
 * under | 0x20, which maps no digit or '_' onto a letter. */
static uint8_t
keyword(const char *s, uint32_t n)
{
#define LC(i) ((unsigned char)s[i] | 0x20u)
    switch (n) {
    case 2:
        if (LC(0) == 'o' && LC(1) == 'r')
            return KW_OR;
        if (LC(0) == 'i' && LC(1) == 'n')
            return KW_IN;
        return KW_NONE;
    case 3:
        if (LC(0) == 'a' && LC(1) == 'n' && LC(2) == 'd')
            return KW_AND;
        if (LC(0) == 'n' && LC(1) == 'o' && LC(2) == 't')
            return KW_NOT;
        if (LC(0) == 's' && LC(1) == 'e' && LC(2) == 't')
            return KW_SET;
        if (LC(0) == 'a' && LC(1) == 'd' && LC(2) == 'd')
            return KW_ADD;
        return KW_NONE;
    case 6:
        if (LC(0) == 'r' && LC(1) == 'e' && LC(2) == 'm' && LC(3) == 'o' && LC(4) == 'v' &&
            LC(5) == 'e')
            return KW_REMOVE;
        if (LC(0) == 'd' && LC(1) == 'e' && LC(2) == 'l' && LC(3) == 'e' && LC(4) == 't' &&
            LC(5) == 'e')
            return KW_DELETE;
        return KW_NONE;
    case 7:
        if (LC(0) == 'b' && LC(1) == 'e' && LC(2) == 't' && LC(3) == 'w' && LC(4) == 'e' &&
            LC(5) == 'e' && LC(6) == 'n')
            return KW_BETWEEN;
        return KW_NONE;
    default:
        return KW_NONE;
    }
#undef LC
}

uint32_t
expr_lex(const char *s, uint32_t len, expr_tok *toks)
{
    /* s[len] is a NUL (see expr_int.h): no class bit and no operator, so the scans below stop
     * on it without a bounds check. */
    const unsigned char *u = (const unsigned char *)s;
    uint32_t i = 0;
    expr_tok *t = toks;

    for (;; t++) {
        while (expr_cclass[u[i]] & CC_SPACE)
            i++;
        t->start = i;
        t->kw = KW_NONE;
        if (i >= len) {
            t->type = T_EOF;
            t->len = 0;
            return (uint32_t)(t - toks) + 1;
        }
        unsigned char c = u[i];
        uint8_t cc = expr_cclass[c];
        uint32_t j = i + 1;
        if (cc & CC_START) {
            while (expr_cclass[u[j]] & CC_WORD)
                j++;
            t->type = T_IDENT;
            t->kw = keyword(s + i, j - i);
        } else if (c == '#' || c == ':') {
            while (expr_cclass[u[j]] & CC_WORD)
                j++;
            t->type = c == '#' ? T_NAME : T_VALUE;
        } else if (cc & CC_DIGIT) {
            while (expr_cclass[u[j]] & CC_DIGIT)
                j++;
            t->type = T_NUMBER;
        } else {
            switch (c) {
            case '(': t->type = T_LPAREN; break;
            case ')': t->type = T_RPAREN; break;
            case '[': t->type = T_LBRACK; break;
            case ']': t->type = T_RBRACK; break;
            case ',': t->type = T_COMMA; break;
            case '.': t->type = T_DOT; break;
            case '=': t->type = T_EQ; break;
            case '+': t->type = T_PLUS; break;
            case '-': t->type = T_MINUS; break;
            case '<':
                if (s[j] == '>') {
                    t->type = T_NE;
                    j++;
                } else if (s[j] == '=') {
                    t->type = T_LE;
                    j++;
                } else {
                    t->type = T_LT;
                }
                break;
            case '>':
                if (s[j] == '=') {
                    t->type = T_GE;
                    j++;
                } else {
                    t->type = T_GT;
                }
                break;
            default:
                /* Keep a multi-byte UTF-8 character whole so the message quotes it intact. */
                t->type = T_ILLEGAL;
                if (c >= 0xc0)
                    while (j < len && (u[j] & 0xc0) == 0x80)
                        j++;
                break;
            }
        }
        t->len = j - i;
        i = j;
    }
}
