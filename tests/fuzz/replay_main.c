/* tests/fuzz -- the gcc build of a fuzz target: replays every file under the given corpus
 * directories through LLVMFuzzerTestOneInput, then a fixed number of deterministic mutations of
 * them (bit flips, byte edits, insertions, deletions, splices, repeated chunks), so the targets'
 * properties run in every `bazel test //...` without clang or libFuzzer. A violated property
 * aborts, which fails the test; the input is written to $TEST_UNDECLARED_OUTPUTS_DIR (or the
 * current directory) as replay-crash-input first. Usage: <target>_replay [--mutations=N] dir... */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#define REPLAY_MAX_LEN 8192   /* bytes; longer mutations are truncated, as libFuzzer's -max_len */

typedef struct input {
    unsigned char *p;   /* owned (malloc) */
    size_t n;
} input;

typedef struct corpus {
    input *v;   /* owned */
    size_t n, cap;
} corpus;

static const unsigned char *cur_data;   /* the input being run, for the crash handler */
static size_t cur_size;

static void
save_current(int sig)
{
    const char *dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/replay-crash-input", dir != NULL ? dir : ".");
    if ((f = fopen(path, "wb")) != NULL) {
        fwrite(cur_data, 1, cur_size, f);
        fclose(f);
        fprintf(stderr, "replay: crashing input (%zu bytes) saved as %s\n", cur_size, path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
run_one(const unsigned char *p, size_t n)
{
    /* A private copy of exactly n bytes, so reads past the end are caught under ASan. */
    unsigned char *copy = malloc(n > 0 ? n : 1);

    if (copy == NULL)
        abort();
    if (n > 0)
        memcpy(copy, p, n);
    cur_data = copy;
    cur_size = n;
    (void)LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

static void
corpus_add(corpus *c, unsigned char *p, size_t n)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        if ((c->v = realloc(c->v, c->cap * sizeof *c->v)) == NULL)
            abort();
    }
    c->v[c->n].p = p;
    c->v[c->n].n = n;
    c->n++;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file of dir (sorted by name, so the mutation sequence is repeatable). */
static size_t
corpus_load_dir(corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t nn = 0, cap = 0, added = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 64;
            if ((names = realloc(names, cap * sizeof *names)) == NULL)
                abort();
        }
        if ((names[nn++] = strdup(e->d_name)) == NULL)
            abort();
    }
    closedir(d);
    if (nn > 0)
        qsort(names, nn, sizeof *names, cmp_names);
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        struct stat st;
        FILE *f;
        unsigned char *buf;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (f = fopen(path, "rb")) == NULL)
            continue;
        if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
            abort();
        if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            fprintf(stderr, "replay: short read on %s\n", path);
            free(buf);
            fclose(f);
            continue;
        }
        fclose(f);
        corpus_add(c, buf, (size_t)st.st_size);
        added++;
    }
    free(names);
    return added;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rng(void)   /* xorshift64*: deterministic, no libc state */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t
below(size_t n)
{
    return n > 0 ? (size_t)(rng() % n) : 0;
}

/* Bytes that tend to matter to our parsers: delimiters, digits, tags, varint edges. */
static const unsigned char interesting[] = {
    0x00, 0x01, 0x02, 0x03, 0x07, 0x08, 0x0a, 0x0b, 0x7f, 0x80, 0xff, ' ', '.', ',', ':', '#',
    '(', ')', '[', ']', '=', '<', '>', '+', '-', 'e', 'E', '0', '1', '9',
};

/* One to four random edits of a copy of src (plus a splice partner), at most REPLAY_MAX_LEN bytes. */
static size_t
mutate(const input *src, const input *other, unsigned char *out)
{
    size_t n = src->n < REPLAY_MAX_LEN ? src->n : REPLAY_MAX_LEN;
    int edits = 1 + (int)below(4);

    memcpy(out, src->p, n);
    for (int k = 0; k < edits; k++) {
        size_t at = below(n + 1), len;

        switch (below(8)) {
        case 0:   /* flip a bit */
            if (n > 0)
                out[below(n)] ^= (unsigned char)(1u << below(8));
            break;
        case 1:   /* overwrite a byte with a random one */
            if (n > 0)
                out[below(n)] = (unsigned char)rng();
            break;
        case 2:   /* overwrite a byte with an interesting one */
            if (n > 0)
                out[below(n)] = interesting[below(sizeof interesting)];
            break;
        case 3:   /* insert an interesting byte */
            if (n < REPLAY_MAX_LEN) {
                memmove(out + at + 1, out + at, n - at);
                out[at] = interesting[below(sizeof interesting)];
                n++;
            }
            break;
        case 4:   /* delete a run */
            if (n > 0 && at < n) {
                len = 1 + below(n - at < 8 ? n - at : 8);
                memmove(out + at, out + at + len, n - at - len);
                n -= len;
            }
            break;
        case 5:   /* truncate */
            n = at < n ? at : n;
            break;
        case 6: { /* splice: our prefix + a piece of another input */
            size_t from = below(other->n + 1), take = other->n - from;
            if (at > n)
                at = n;
            if (at + take > REPLAY_MAX_LEN)
                take = REPLAY_MAX_LEN - at;
            memcpy(out + at, other->p + from, take);
            n = at + take;
            break;
        }
        default: { /* duplicate a chunk in place (grows nesting, lists, repeated clauses) */
            if (n == 0 || at >= n)
                break;
            len = 1 + below(n - at < 32 ? n - at : 32);
            if (n + len > REPLAY_MAX_LEN)
                break;
            memmove(out + at + len, out + at, n - at);
            n += len;
            break;
        }
        }
    }
    return n;
}

int
main(int argc, char **argv)
{
    corpus c = { NULL, 0, 0 };
    long mutations = 3000;
    unsigned char *buf = malloc(REPLAY_MAX_LEN);

    if (buf == NULL)
        abort();
    signal(SIGABRT, save_current);
    signal(SIGSEGV, save_current);
    signal(SIGBUS, save_current);
    signal(SIGFPE, save_current);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--mutations=", 12) == 0)
            mutations = strtol(argv[i] + 12, NULL, 10);
        else
            fprintf(stderr, "replay: %zu inputs from %s\n", corpus_load_dir(&c, argv[i]),
                    argv[i]);
    }
    if (c.n == 0) {
        fprintf(stderr, "replay: no corpus files; give the corpus directories as arguments\n");
        return 1;
    }
    run_one((const unsigned char *)"", 0);
    for (size_t i = 0; i < c.n; i++)
        run_one(c.v[i].p, c.v[i].n);
    for (long m = 0; m < mutations; m++) {
        const input *src = &c.v[below(c.n)], *other = &c.v[below(c.n)];
        size_t n = mutate(src, other, buf);
        run_one(buf, n);
    }
    fprintf(stderr, "replay: %zu corpus inputs and %ld mutations ran clean\n", c.n, mutations);
    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].p);
    free(c.v);
    free(buf);
    return 0;
}
