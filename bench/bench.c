/*
 * ole32mem's benchmark: times ole32mem.dll, the system ole32.dll (Wine's builtin) and the raw process heap in one
 * process, scenario by scenario, and prints medians in ns per operation, the ratios ole32mem/heap and
 * ole32mem/builtin, the spied-block bookkeeping per target, and whether the project's performance targets are met.
 *
 * Method: every scenario is calibrated per target (which is also its warm-up) to a batch of about batch_ms, then
 * run for `reps` repetitions; each repetition runs every target once, in an order that rotates from one repetition
 * to the next, so that machine noise and drift hit all targets alike. A target's turn in a repetition is `batches`
 * short batches, of which the fastest is the repetition's sample: on a machine shared with builds, a batch that was
 * preempted says nothing about the allocator. A row shows each target's median over the repetitions; a ratio is the
 * median over the repetitions of that repetition's ratio (paired samples, which cancels drift better than a ratio
 * of medians). Nothing is pinned to a core. Where the targets cost about the same (the rows without a spy) every
 * target runs the same number of operations per batch, so that a heap whose state drifts with use (the working
 * sets) is driven equally hard by each.
 *
 * The spied rows also time a second copy of ole32mem (ole32mem_ref.dll, column o@N=0) whose spy has no block
 * outstanding but the probe: it is the N=0 reference measured alongside each level, so that "cost at N=1e6 against
 * N=0" is a paired ratio too rather than a comparison of rows measured a minute apart on a busy machine.
 *
 * Wine builtin hazards this program avoids: GetSize/DidAlloc under a spy before any spied Alloc (its table is still
 * NULL); registering or revoking a spy while another thread allocates (its spy pointer is read outside its lock); a
 * spy that adds a header (it overruns). Its spied-block table is a flat array searched linearly, so each spied call
 * costs O(N) and building N spied blocks O(N^2): the builtin gets a time budget per spied level, estimated from the
 * previous level, and a level over budget is printed as "skipped (budget)".
 *
 * Noise: each ratio comes with a distribution-free 95% confidence interval of its median (from the order statistics of
 * the per-repetition ratios); the run ends with the rows where ole32mem is slower than the builtin beyond that noise,
 * and those slower within it.
 *
 * Environment: BENCH_QUICK=1 (a short run: fewer repetitions, shorter batches, smaller budgets), BENCH_REPS=n and
 * BENCH_BATCH_MS=x override the repetition count and batch length, BENCH_LFH=1 asks for the low-fragmentation heap
 * on the process heap first (an experiment: off by default), BENCH_FILTER=a|b runs only the rows whose label contains
 * one of the '|'-separated texts (and skips the bookkeeping measurement): a change can be measured with many
 * repetitions in a minute, e.g. BENCH_FILTER='N=0:|GetSize 16|DidAlloc 16' BENCH_REPS=31.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum
{
    MAX_REPS = 64,
    MAX_ROWS = 64,
    MAX_VARIANTS = 2,
    MIN_OPS = 4, /* a multiple of every thread count used */
    MAX_OPS = 1 << 26,
    PAIR_SMALL = 16,
    PAIR_MEDIUM = 256,
    PAIR_LARGE = 4096,
    WORKSET_SMALL = 1000,
    WORKSET_LARGE = 100000,
    SPIED_BLOCK_SIZE = 16,
    /* The spied realloc chain stops at 4 KiB: past that the heap's large blocks (a mapping each) dominate, and a
     * chain to 1 MiB takes milliseconds, several of the builtin's spied levels over. */
    SPIED_REALLOC_MAX = 4096,
    /* The builtin's build cost is only extrapolated from a growth with at least this many table comparisons: smaller
     * ones are too short to time. */
    MIN_COMPARES_TO_ESTIMATE = 1000000,
};

/* Spied levels: blocks outstanding under the spy while a spied scenario runs. */
static const unsigned spied_levels[] = {0, 1000, 10000, 100000, 1000000};
enum
{
    LEVEL_COUNT = sizeof(spied_levels) / sizeof(spied_levels[0]),
    LEVEL_TARGET_FAST = 3,  /* N=1e5: the spied pair must be 100x faster than the builtin's */
    LEVEL_TARGET_LARGE = 4, /* N=1e6: ole32mem must stay within 2x of N=0 */
};

/* Targets the project set itself (reported, not asserted). */
#define TARGET_MAX_HEAP_RATIO 1.05
#define TARGET_MAX_BUILTIN_RATIO 1.0
#define TARGET_MIN_SPIED_SPEEDUP 100.0
#define TARGET_MAX_LEVEL_GROWTH 2.0
#define TARGET_MIN_THREAD_SCALING 1.0
#define TARGET_MAX_BOOKKEEPING 32.0

/* Run lengths: a full run takes a minute or so per arch, a quick one a few seconds. */
enum
{
    FULL_REPS = 21,
    QUICK_REPS = 3,
    FULL_BATCH_MS = 1,
    QUICK_BATCH_MS = 1,
    FULL_BATCHES = 8, /* per target and repetition: the fastest one is the repetition's sample */
    QUICK_BATCHES = 2,
    /* Thread batches are longer: starting the threads is outside the timing, but they do not start in the same
     * microsecond, and the aggregate time runs from the first start to the last end. */
    THREAD_BATCH_SCALE = 5,
    FULL_BUDGET_SECONDS = 30,
    QUICK_BUDGET_SECONDS = 1,
    MEMORY_BLOCKS = 1000000,
    FULL_MEMORY_BLOCKS_BUILTIN = 30000,
    QUICK_MEMORY_BLOCKS_BUILTIN = 10000,
};

struct config
{
    int quick;
    char filter[256]; /* BENCH_FILTER: '|'-separated texts, empty for every row */
    unsigned reps;
    double batch_ns;
    unsigned batches;
    double budget_seconds;          /* the most the builtin may spend growing its spied set to the next level */
    unsigned memory_blocks;         /* outstanding blocks for the bookkeeping measurement ... */
    unsigned memory_blocks_builtin; /* ... and for the builtin, whose O(N^2) makes 1e6 impractical */
};

static struct config config;

double bench_ns_per_tick;

LONGLONG bench_now(void)
{
    LARGE_INTEGER now;

    QueryPerformanceCounter(&now);
    return now.QuadPart;
}

void *bench_array_alloc(size_t bytes)
{
    return VirtualAlloc(NULL, bytes ? bytes : 1, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
}

void bench_array_free(void *array)
{
    if (array)
        VirtualFree(array, 0, MEM_RELEASE);
}

/* --- rows ----------------------------------------------------------------------------------------------------- */

enum cell
{
    CELL_NONE,     /* not applicable: "-" */
    CELL_MEASURED, /* to be measured, then measured */
    CELL_SKIPPED,  /* over its time budget */
    CELL_FAILED,   /* the kernel could not run (out of memory, no thread) */
};

struct row
{
    char label[48];
    enum cell cell[TARGET_COUNT];
    double samples[TARGET_COUNT][MAX_REPS]; /* ns per op */
    double median[TARGET_COUNT];
    double ratio[TARGET_COUNT]; /* ole32mem / target, paired median; NAN when either is missing */
    /* The ratio's noise: a distribution-free 95% confidence interval of that median (see ratio_interval). */
    double ratio_low[TARGET_COUNT], ratio_high[TARGET_COUNT];
};

static struct row rows[MAX_ROWS];
static unsigned row_count;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The order statistics that bound a 95% confidence interval of the median of `count` samples, whatever their
 * distribution: the median lies below the k-th smallest sample with probability P(Binomial(count, 1/2) < k), so the
 * k-th smallest and the k-th largest bound it when that probability is at most 2.5% on each side. 0 when count is
 * too small for any interval (fewer than 6 samples). */
static unsigned interval_rank(unsigned count)
{
    double tail = 0, term = ldexp(1, -(int)count); /* P(X = 0) */
    unsigned k;

    for (k = 0; k < count / 2; k++)
    {
        if (tail + term > 0.025)
            break;
        tail += term;
        term = term * (count - k) / (k + 1);
    }
    return k;
}

static double median_of(const double *values, unsigned count)
{
    double sorted[MAX_REPS];

    if (!count)
        return NAN;
    memcpy(sorted, values, count * sizeof(*values));
    qsort(sorted, count, sizeof(*sorted), compare_doubles);
    return count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

enum row_kind
{
    ROW_PLAIN, /* no spy: ole32mem, builtin, heap */
    ROW_SPIED, /* under a spy: ole32mem and builtin (the heap has no spy) */
    ROW_LEVEL, /* a spied level: ole32mem, builtin and the N=0 reference */
};

static struct row *new_row(const char *label, enum row_kind kind)
{
    struct row *row = &rows[row_count < MAX_ROWS ? row_count++ : MAX_ROWS - 1];

    memset(row, 0, sizeof(*row));
    snprintf(row->label, sizeof(row->label), "%s", label);
    row->cell[TARGET_OLE32MEM] = CELL_MEASURED;
    row->cell[TARGET_BUILTIN] = CELL_MEASURED;
    row->cell[TARGET_HEAP] = kind == ROW_PLAIN ? CELL_MEASURED : CELL_NONE;
    row->cell[TARGET_REFERENCE] = kind == ROW_LEVEL && targets[TARGET_REFERENCE].module ? CELL_MEASURED : CELL_NONE;
    return row;
}

/* Whether BENCH_FILTER lets the row with this label run: every row without a filter, else a row whose label contains
 * one of the filter's '|'-separated texts. */
static int row_wanted(const char *label)
{
    const char *text = config.filter;

    if (!*text)
        return 1;
    while (*text)
    {
        size_t length = strcspn(text, "|");
        const char *at;

        for (at = label; length && strlen(at) >= length; at++)
            if (!strncmp(at, text, length))
                return 1;
        text += length + (text[length] == '|');
    }
    return 0;
}

static void format_ns(char *buffer, size_t size, const struct row *row, unsigned t)
{
    switch (row->cell[t])
    {
    case CELL_MEASURED:
        snprintf(buffer, size, row->median[t] < 1000 ? "%.1f" : "%.0f", row->median[t]);
        break;
    case CELL_SKIPPED:
        snprintf(buffer, size, "skipped (budget)");
        break;
    case CELL_FAILED:
        snprintf(buffer, size, "failed");
        break;
    default:
        snprintf(buffer, size, "-");
    }
}

static void format_ratio(char *buffer, size_t size, double ratio)
{
    if (isnan(ratio))
        snprintf(buffer, size, "-");
    else
        snprintf(buffer, size, ratio >= 0.1 ? "%.3f" : "%.2g", ratio);
}

#define ROW_FORMAT "%-36s %11s %16s %11s %11s %8s %9s %13s %9s\n"

static void print_table_header(void)
{
    printf("\nns per operation: median over %u repetitions of the fastest of %u batches; ratios: median of the "
           "per-repetition ratios\n",
           config.reps, config.batches);
    printf("  o/x = ole32mem / x. o@N=0 = ole32mem_ref.dll, a second ole32mem instance whose spy has only the probe "
           "outstanding, timed\n  alongside every spied level. \"spy, N=n\": ole32mem and builtin each have a "
           "pass-through spy and n spied 16-byte blocks\n  outstanding; GetSize/DidAlloc ask about the middle one "
           "(the builtin scans n/2 table slots for it). Working sets\n  use 8-%d B blocks: with larger random ones "
           "Wine 8's heap slows down without bound, for every target alike.\n",
           WORKSET_MAX);
    printf("  o/builtin 95%%: a distribution-free 95%% confidence interval of the median of the per-repetition ratios "
           "(the noise;\n  needs >= 6 repetitions). A row is slower than the builtin beyond noise when the whole "
           "interval is above 1.\n");
    printf(ROW_FORMAT, "scenario", "ole32mem", "builtin", "heap", "o@N=0", "o/heap", "o/builtin", "o/builtin 95%",
           "o/o@N=0");
}

static void print_row(const struct row *row)
{
    char cells[TARGET_COUNT][24], ratios[TARGET_COUNT][16], interval[32] = "-";
    unsigned t;

    for (t = 0; t < TARGET_COUNT; t++)
    {
        format_ns(cells[t], sizeof(cells[t]), row, t);
        format_ratio(ratios[t], sizeof(ratios[t]), row->ratio[t]);
    }
    if (!isnan(row->ratio_low[TARGET_BUILTIN]))
        snprintf(interval, sizeof(interval), "%.3f-%.3f", row->ratio_low[TARGET_BUILTIN],
                 row->ratio_high[TARGET_BUILTIN]);
    printf(ROW_FORMAT, row->label, cells[TARGET_OLE32MEM], cells[TARGET_BUILTIN], cells[TARGET_HEAP],
           cells[TARGET_REFERENCE], ratios[TARGET_HEAP], ratios[TARGET_BUILTIN], interval, ratios[TARGET_REFERENCE]);
    fflush(stdout);
}

/* --- measuring ------------------------------------------------------------------------------------------------ */

/* One kernel and its per-target states, feeding one row. */
struct variant
{
    struct row *row;
    kernel_fn kernel;
    void *state[TARGET_COUNT];
    double batch_scale; /* batches this many times config.batch_ns long */
};

/* Finds how many ops make a batch of batch_ns, by timing growing batches (this is also the warm-up), then runs one
 * batch of that size untimed. 0 when the kernel cannot run. */
static unsigned calibrate(kernel_fn kernel, const struct target *target, void *state, double batch_ns)
{
    double ns, wanted;
    unsigned ops = 1;
    LONGLONG ticks;

    for (;;)
    {
        if ((ticks = kernel(target, state, ops)) < 0)
            return 0;
        ns = ticks * bench_ns_per_tick;
        if (ns >= batch_ns || ops >= MAX_OPS / 16)
            break;
        ops *= ns < batch_ns / 16 ? 16 : 2;
    }
    wanted = ns > 0 ? batch_ns * ops / ns : MAX_OPS;
    wanted = wanted < MIN_OPS ? MIN_OPS : wanted > MAX_OPS ? MAX_OPS : wanted;
    ops = (unsigned)wanted / MIN_OPS * MIN_OPS;
    if (kernel(target, state, ops) < 0)
        return 0;
    return ops;
}

static void finish_row(struct row *row)
{
    unsigned t, r, k;

    for (t = 0; t < TARGET_COUNT; t++)
    {
        double ratios[MAX_REPS];

        row->median[t] = row->cell[t] == CELL_MEASURED ? median_of(row->samples[t], config.reps) : NAN;
        row->ratio[t] = NAN;
        if (t == TARGET_OLE32MEM || row->cell[t] != CELL_MEASURED || row->cell[TARGET_OLE32MEM] != CELL_MEASURED)
            continue;
        for (r = 0; r < config.reps; r++)
            ratios[r] = row->samples[TARGET_OLE32MEM][r] / row->samples[t][r];
        row->ratio[t] = median_of(ratios, config.reps);
        row->ratio_low[t] = row->ratio_high[t] = NAN;
        if ((k = interval_rank(config.reps)))
        {
            qsort(ratios, config.reps, sizeof(*ratios), compare_doubles);
            row->ratio_low[t] = ratios[k - 1];
            row->ratio_high[t] = ratios[config.reps - k];
        }
    }
}

/* Runs the variants' kernels for every target whose cell is CELL_MEASURED: each repetition visits the targets in
 * rotated order and, per target, the variants in rotated order; then prints the rows. With same_ops every target
 * runs as many ops per batch as the slowest one's calibration asked for. */
static void measure(struct variant *variants, unsigned count, int same_ops)
{
    unsigned ops[MAX_VARIANTS][TARGET_COUNT] = {{0}}, order[TARGET_COUNT], active = 0, r, i, j, t, v;

    for (t = 0; t < TARGET_COUNT; t++)
    {
        int any = 0;

        for (v = 0; v < count; v++)
        {
            struct row *row = variants[v].row;

            if (row->cell[t] != CELL_MEASURED)
                continue;
            if (!(ops[v][t] = calibrate(variants[v].kernel, &targets[t], variants[v].state[t],
                                        config.batch_ns * variants[v].batch_scale)))
                row->cell[t] = CELL_FAILED;
            else
                any = 1;
        }
        if (any)
            order[active++] = t;
    }
    for (v = 0; same_ops && v < count; v++)
    {
        unsigned fewest = MAX_OPS;

        for (t = 0; t < TARGET_COUNT; t++)
            if (ops[v][t] && ops[v][t] < fewest)
                fewest = ops[v][t];
        for (t = 0; t < TARGET_COUNT; t++)
            if (ops[v][t])
                ops[v][t] = fewest;
    }
    for (r = 0; r < config.reps; r++)
        for (i = 0; i < active; i++)
        {
            t = order[(r + i) % active];
            for (j = 0; j < count; j++)
            {
                struct variant *variant = &variants[(r + j) % count];
                double fastest = INFINITY;
                LONGLONG ticks = 0;
                unsigned b;

                v = (r + j) % count;
                if (variant->row->cell[t] != CELL_MEASURED)
                    continue;
                for (b = 0; b < config.batches; b++)
                {
                    if ((ticks = variant->kernel(&targets[t], variant->state[t], ops[v][t])) < 0)
                        break;
                    if (ticks * bench_ns_per_tick / ops[v][t] < fastest)
                        fastest = ticks * bench_ns_per_tick / ops[v][t];
                }
                if (ticks < 0)
                    variant->row->cell[t] = CELL_FAILED;
                else
                    variant->row->samples[t][r] = fastest;
            }
        }
    for (v = 0; v < count; v++)
    {
        finish_row(variants[v].row);
        print_row(variants[v].row);
    }
}

/* NULL when BENCH_FILTER leaves the row out. */
static struct row *measure_one(const char *label, enum row_kind kind, kernel_fn kernel,
                               void *const states[TARGET_COUNT])
{
    struct variant variant = {NULL, kernel, {0}, 1};

    if (!row_wanted(label))
        return NULL;
    variant.row = new_row(label, kind);
    memcpy(variant.state, states, sizeof(variant.state));
    measure(&variant, 1, kind == ROW_PLAIN);
    return variant.row;
}

/* --- scenarios ------------------------------------------------------------------------------------------------ */

static struct row *pair_rows[4];
static struct row *threads_rows[2][2];         /* [spied][threads - 1] */
/* Per spied level: pair, GetSize, DidAlloc (the first three: print_targets checks them), Alloc, Free, Realloc. */
enum
{
    LEVEL_KERNELS = 6,
};
static struct row *level_rows[LEVEL_COUNT][LEVEL_KERNELS];
static double thread_scaling[2][TARGET_COUNT]; /* [spied]: aggregate throughput of 2 threads / 1 thread */
static struct memory_result memory[TARGET_COUNT];

/* Counts as the table prints them: 0, 1e3, 1e6 for powers of ten, digits otherwise. */
static const char *count_text(unsigned count, char *buffer, size_t size)
{
    unsigned exponent = 0, rest = count;

    while (rest >= 10 && rest % 10 == 0)
        rest /= 10, exponent++;
    if (rest == 1 && exponent >= 3)
        snprintf(buffer, size, "1e%u", exponent);
    else
        snprintf(buffer, size, "%u", count);
    return buffer;
}

static void same_state(void *states[TARGET_COUNT], void *state)
{
    unsigned t;

    for (t = 0; t < TARGET_COUNT; t++)
        states[t] = state;
}

static void run_plain(void)
{
    static const SIZE_T pair_sizes[] = {PAIR_SMALL, PAIR_MEDIUM, PAIR_LARGE, 0};
    static const unsigned workset_counts[] = {WORKSET_SMALL, WORKSET_LARGE};
    static const int plain_targets[TARGET_COUNT] = {[TARGET_OLE32MEM] = 1, [TARGET_BUILTIN] = 1, [TARGET_HEAP] = 1};
    struct pair_state pair;
    struct workset sets[TARGET_COUNT];
    struct probe probes[TARGET_COUNT];
    void *states[TARGET_COUNT];
    char label[48];
    unsigned i, t;

    for (i = 0; i < sizeof(pair_sizes) / sizeof(pair_sizes[0]); i++)
    {
        pair.size = pair_sizes[i];
        if (pair.size)
            snprintf(label, sizeof(label), "pair %lu B", (unsigned long)pair.size);
        else
            snprintf(label, sizeof(label), "pair mixed %d-%d B", MIXED_MIN, MIXED_MAX);
        same_state(states, &pair);
        pair_rows[i] = measure_one(label, ROW_PLAIN, kernel_pair, states);
    }

    for (i = 0; i < sizeof(workset_counts) / sizeof(workset_counts[0]); i++)
    {
        char count[16];

        snprintf(label, sizeof(label), "working set %s x %d-%d B, replace",
                 count_text(workset_counts[i], count, sizeof(count)), MIXED_MIN, WORKSET_MAX);
        if (!row_wanted(label))
            continue;
        if (worksets_init(sets, plain_targets, workset_counts[i]))
        {
            for (t = 0; t < TARGET_COUNT; t++)
                states[t] = &sets[t];
            measure_one(label, ROW_PLAIN, kernel_workset, states);
        }
        else
            printf("%-36s out of memory\n", label);
        for (t = 0; t < TARGET_COUNT; t++)
            if (plain_targets[t])
                workset_release(&sets[t], &targets[t]);
    }

    for (t = 0; t < TARGET_COUNT; t++)
    {
        probes[t].block = plain_targets[t] ? targets[t].alloc(SPIED_BLOCK_SIZE) : NULL;
        states[t] = &probes[t];
    }
    measure_one("GetSize 16 B", ROW_PLAIN, kernel_get_size, states);
    measure_one("DidAlloc 16 B", ROW_PLAIN, kernel_did_alloc, states);
    for (t = 0; t < TARGET_COUNT; t++)
        if (plain_targets[t])
            targets[t].free(probes[t].block);

    same_state(states, NULL);
    snprintf(label, sizeof(label), "realloc x2 %d B..1 MiB (op = chain)", REALLOC_MIN);
    measure_one(label, ROW_PLAIN, kernel_realloc_chain, states);
}

/* One and two threads of mixed pairs, paired in every repetition; then the scaling line. */
static void run_threads(int spied)
{
    static const struct threads_state one = {1}, two = {2};
    struct variant variants[2];
    char labels[2][48];
    unsigned v, t, r;

    for (t = 0; t < TARGET_COUNT; t++)
        thread_scaling[spied][t] = NAN;
    for (v = 0; v < 2; v++)
        snprintf(labels[v], sizeof(labels[v]), "%s%u thread%s, pairs mixed%s", spied ? "spy, " : "", v + 1,
                 v ? "s" : "", v ? " (aggr.)" : "");
    /* The two rows make the scaling line: both or neither. */
    if (!row_wanted(labels[0]) && !row_wanted(labels[1]))
        return;
    for (v = 0; v < 2; v++)
    {
        variants[v].row = threads_rows[spied][v] = new_row(labels[v], spied ? ROW_SPIED : ROW_PLAIN);
        variants[v].kernel = kernel_threads;
        variants[v].batch_scale = THREAD_BATCH_SCALE;
        same_state(variants[v].state, (void *)(v ? &two : &one));
    }
    measure(variants, 2, !spied);

    printf("%-36s", spied ? "  spy, 2 threads / 1, throughput" : "  2 threads / 1, throughput");
    for (t = 0; t < TARGET_COUNT; t++)
    {
        double ratios[MAX_REPS];
        char cell[16] = "-";

        if (threads_rows[spied][0]->cell[t] == CELL_MEASURED && threads_rows[spied][1]->cell[t] == CELL_MEASURED)
        {
            for (r = 0; r < config.reps; r++)
                ratios[r] = threads_rows[spied][0]->samples[t][r] / threads_rows[spied][1]->samples[t][r];
            thread_scaling[spied][t] = median_of(ratios, config.reps);
            snprintf(cell, sizeof(cell), "%.2fx", thread_scaling[spied][t]);
        }
        printf(t == TARGET_BUILTIN ? " %16s" : " %11s", cell);
    }
    printf("\n");
}

/* Grows the builtin's spied set to n blocks unless the estimate of what that costs is over budget. Returns 1 when
 * grown (*seconds is what it took), 0 when skipped, -1 when out of memory. */
static int grow_builtin(struct block_set *set, unsigned n, double *seconds_per_compare, double *estimate,
                        double *seconds)
{
    double before = (double)set->count, compares = ((double)n * n - before * before) / 2;
    LONGLONG start;

    /* Each spied Alloc scans the builtin's table from the start for a free slot: growing from c to n blocks reads
     * (n^2 - c^2) / 2 slots. */
    *estimate = *seconds_per_compare * compares;
    if (*estimate > config.budget_seconds)
        return 0;
    start = bench_now();
    if (!block_set_grow(set, &targets[TARGET_BUILTIN], n, SPIED_BLOCK_SIZE))
        return -1;
    *seconds = (bench_now() - start) * bench_ns_per_tick * 1e-9;
    if (compares >= MIN_COMPARES_TO_ESTIMATE)
        *seconds_per_compare = *seconds / compares;
    return 1;
}

/* The spied phase: the COM targets keep their pass-through spy registered throughout, and the sets of outstanding
 * spied blocks grow level by level (never shrink: freeing N spied blocks costs the builtin O(N^2) again). */
static void run_spied(void)
{
    static const int spied_targets[] = {TARGET_OLE32MEM, TARGET_BUILTIN, TARGET_REFERENCE};
    static struct block_set outstanding[TARGET_COUNT];
    struct pair_state pair = {PAIR_SMALL};
    struct chain_state chain = {SPIED_REALLOC_MAX};
    struct probe probes[TARGET_COUNT];
    void *pair_states[TARGET_COUNT], *probe_states[TARGET_COUNT];
    double seconds_per_compare = 0;
    int builtin_skipped = 0;
    unsigned level, i, k, t;
    HRESULT hr;

    same_state(pair_states, &pair);
    for (t = 0; t < TARGET_COUNT; t++)
        probe_states[t] = &probes[t];
    for (i = 0; i < sizeof(spied_targets) / sizeof(spied_targets[0]); i++)
    {
        t = spied_targets[i];
        if (targets[t].module && FAILED(hr = targets[t].register_spy(targets[t].spy)))
        {
            printf("bench: %s: CoRegisterMallocSpy failed: %#lx\n", targets[t].name, (unsigned long)hr);
            return;
        }
    }
    /* Threads first, while no spied block is outstanding; nothing registers or revokes while they run. */
    run_threads(1);

    for (level = 0; level < LEVEL_COUNT; level++)
    {
        static const char *const names[LEVEL_KERNELS] = {"pair 16 B", "GetSize", "DidAlloc",
                                                         "Alloc 16 B", "Free 16 B", "realloc x2 16 B..4 KiB"};
        static const kernel_fn kernels[LEVEL_KERNELS] = {kernel_pair,  kernel_get_size, kernel_did_alloc,
                                                         kernel_alloc, kernel_free,     kernel_realloc_chain};
        unsigned n = spied_levels[level];
        int fresh_probe[TARGET_COUNT] = {0}, grown = 0;
        char count[16];
        double estimate = 0, own_seconds, builtin_seconds = 0;
        LONGLONG start = bench_now();

        if (!block_set_grow(&outstanding[TARGET_OLE32MEM], &targets[TARGET_OLE32MEM], n, SPIED_BLOCK_SIZE))
        {
            printf("bench: ole32mem: out of memory at %u spied blocks\n", n);
            return;
        }
        own_seconds = (bench_now() - start) * bench_ns_per_tick * 1e-9;
        if (!builtin_skipped && (grown = grow_builtin(&outstanding[TARGET_BUILTIN], n, &seconds_per_compare, &estimate,
                                                      &builtin_seconds)) < 0)
        {
            printf("bench: builtin: out of memory at %u spied blocks\n", n);
            return;
        }
        if (!grown && builtin_skipped)
        {
            double c = (double)outstanding[TARGET_BUILTIN].count;

            estimate = seconds_per_compare * ((double)n * n - c * c) / 2;
        }
        builtin_skipped = !grown;
        printf("  spy, N=%s: %u spied blocks outstanding, built in %.3f s by ole32mem, ",
               count_text(n, count, sizeof(count)), n, own_seconds);
        if (builtin_skipped)
            printf("builtin skipped (budget: est. %.0f s > %.0f s)\n", estimate, config.budget_seconds);
        else
            printf("%.3f s by builtin\n", builtin_seconds);

        /* The probe is an outstanding block from the middle of the set (the builtin scans N/2 slots to find it); at
         * N=0, and always for the reference, a block allocated for it, which also keeps the builtin from looking
         * into a NULL table. */
        for (i = 0; i < sizeof(spied_targets) / sizeof(spied_targets[0]); i++)
        {
            t = spied_targets[i];
            probes[t].block = NULL;
            if (!targets[t].module)
                continue;
            if (outstanding[t].count)
                probes[t].block = outstanding[t].blocks[outstanding[t].count / 2];
            else
            {
                probes[t].block = targets[t].alloc(SPIED_BLOCK_SIZE);
                fresh_probe[t] = 1;
            }
        }

        for (k = 0; k < LEVEL_KERNELS; k++)
        {
            char label[48];
            struct variant variant;

            snprintf(label, sizeof(label), "spy, N=%s: %s", count_text(n, count, sizeof(count)), names[k]);
            if (!row_wanted(label))
                continue;
            variant.row = level_rows[level][k] = new_row(label, ROW_LEVEL);
            variant.kernel = kernels[k];
            variant.batch_scale = 1;
            if (kernels[k] == kernel_pair)
                memcpy(variant.state, pair_states, sizeof(variant.state));
            else if (kernels[k] == kernel_realloc_chain)
                same_state(variant.state, &chain);
            else
                memcpy(variant.state, probe_states, sizeof(variant.state));
            if (builtin_skipped)
                variant.row->cell[TARGET_BUILTIN] = CELL_SKIPPED;
            measure(&variant, 1, 0);
        }
        for (t = 0; t < TARGET_COUNT; t++)
            if (fresh_probe[t])
                targets[t].free(probes[t].block);
    }

    /* ole32mem gives everything back quickly and revokes; the builtin keeps its set until the process exits. */
    block_set_release(&outstanding[TARGET_OLE32MEM], &targets[TARGET_OLE32MEM]);
    if (FAILED(hr = targets[TARGET_OLE32MEM].revoke_spy()))
        printf("bench: ole32mem: CoRevokeMallocSpy failed: %#lx\n", (unsigned long)hr);
}

/* --- memory and targets --------------------------------------------------------------------------------------- */

static void run_memory(void)
{
    static const int spied_targets[] = {TARGET_OLE32MEM, TARGET_BUILTIN};
    unsigned i;

    if (config.filter[0])
    {
        printf("\nmemory: not measured (BENCH_FILTER)\n");
        return;
    }
    printf("\nmemory: bookkeeping per outstanding spied 16-byte block = (busy bytes of all heaps with N blocks under "
           "the spy - the same without it) / N\n");
    for (i = 0; i < 2; i++)
    {
        int t = spied_targets[i];
        struct memory_result *result = &memory[t];

        measure_memory(&targets[t], t == TARGET_BUILTIN ? config.memory_blocks_builtin : config.memory_blocks, result);
        if (result->measured)
            printf("  %-9s N=%-8u %6.2f B/block (HeapWalk busy bytes), %6.2f B/block (working set)   [%.1f s]\n",
                   targets[t].name, result->blocks, result->heap_bytes_per_block, result->ws_bytes_per_block,
                   result->seconds);
    }
    printf("  %-9s no spy\n", targets[TARGET_HEAP].name);
    fflush(stdout);
}

static void print_target(const char *what, int known, int met, const char *detail)
{
    printf("  %-58s %s: %s\n", what, !known ? "not measured" : met ? "met" : "NOT MET", detail);
}

static void print_targets(void)
{
    char detail[200];
    double worst_heap = 0, worst_builtin = 0;
    const char *worst_heap_row = "", *worst_builtin_row = "";
    int known_heap = 1, known_builtin = 1, have_reference = targets[TARGET_REFERENCE].module != NULL;
    unsigned i, k;

    printf("\ntargets (reported, not asserted)\n");
    for (i = 0; i < 4; i++)
    {
        const struct row *row = pair_rows[i];

        if (!row || isnan(row->ratio[TARGET_HEAP]))
            known_heap = 0;
        else if (row->ratio[TARGET_HEAP] > worst_heap)
            worst_heap = row->ratio[TARGET_HEAP], worst_heap_row = row->label;
        if (!row || isnan(row->ratio[TARGET_BUILTIN]))
            known_builtin = 0;
        else if (row->ratio[TARGET_BUILTIN] > worst_builtin)
            worst_builtin = row->ratio[TARGET_BUILTIN], worst_builtin_row = row->label;
    }
    snprintf(detail, sizeof(detail), "worst %.3f (%s)", worst_heap, worst_heap_row);
    print_target("no spy: ole32mem/heap <= 1.05 at every size", known_heap, worst_heap <= TARGET_MAX_HEAP_RATIO,
                 detail);
    snprintf(detail, sizeof(detail), "worst %.3f (%s)", worst_builtin, worst_builtin_row);
    print_target("no spy: ole32mem/builtin <= 1.0 at every size", known_builtin,
                 worst_builtin <= TARGET_MAX_BUILTIN_RATIO, detail);

    {
        const struct row *row = level_rows[LEVEL_TARGET_FAST][0];
        int known = row && !isnan(row->ratio[TARGET_BUILTIN]);
        double speedup = known ? 1 / row->ratio[TARGET_BUILTIN] : NAN;

        if (known)
            snprintf(detail, sizeof(detail), "%.0fx (%.1f ns vs %.0f ns)", speedup, row->median[TARGET_OLE32MEM],
                     row->median[TARGET_BUILTIN]);
        else
            snprintf(detail, sizeof(detail), "builtin %s at N=1e5", row ? "skipped (budget)" : "not run");
        print_target("spy: pair at N=1e5 >= 100x faster than the builtin", known, speedup >= TARGET_MIN_SPIED_SPEEDUP,
                     detail);
    }

    for (k = 0; k < 3; k++)
    {
        static const char *const names[] = {"pair", "GetSize", "DidAlloc"};
        const struct row *base = level_rows[0][k], *large = level_rows[LEVEL_TARGET_LARGE][k];
        int known = large && large->cell[TARGET_OLE32MEM] == CELL_MEASURED;
        double growth = NAN;
        char what[64];

        snprintf(what, sizeof(what), "spy: ole32mem %s at N=1e6 within 2x of N=0", names[k]);
        if (known && have_reference && !isnan(large->ratio[TARGET_REFERENCE]))
        {
            growth = large->ratio[TARGET_REFERENCE];
            snprintf(detail, sizeof(detail), "%.2fx (%.1f ns vs %.1f ns, paired with the N=0 reference)", growth,
                     large->median[TARGET_OLE32MEM], large->median[TARGET_REFERENCE]);
        }
        else if (known && base && base->cell[TARGET_OLE32MEM] == CELL_MEASURED)
        {
            growth = large->median[TARGET_OLE32MEM] / base->median[TARGET_OLE32MEM];
            snprintf(detail, sizeof(detail), "%.2fx (%.1f ns vs %.1f ns, rows measured at different times)", growth,
                     large->median[TARGET_OLE32MEM], base->median[TARGET_OLE32MEM]);
        }
        else
            snprintf(detail, sizeof(detail), "not run");
        print_target(what, !isnan(growth), growth <= TARGET_MAX_LEVEL_GROWTH, detail);
    }

    {
        double scaling = thread_scaling[0][TARGET_OLE32MEM];

        snprintf(detail, sizeof(detail),
                 "%.2fx (builtin %.2fx, heap %.2fx; under a spy: ole32mem %.2fx, builtin %.2fx)", scaling,
                 thread_scaling[0][TARGET_BUILTIN], thread_scaling[0][TARGET_HEAP], thread_scaling[1][TARGET_OLE32MEM],
                 thread_scaling[1][TARGET_BUILTIN]);
        print_target("no spy: 2 threads' aggregate throughput >= 1 thread's", !isnan(scaling),
                     scaling >= TARGET_MIN_THREAD_SCALING, detail);
    }

    {
        const struct memory_result *result = &memory[TARGET_OLE32MEM];

        snprintf(detail, sizeof(detail), "%.1f B/block at N=%u (builtin %.1f B/block at N=%u)%s",
                 result->heap_bytes_per_block, result->blocks, memory[TARGET_BUILTIN].heap_bytes_per_block,
                 memory[TARGET_BUILTIN].blocks, sizeof(void *) == 8 ? "" : "; a 64-bit target, shown for 32-bit");
        print_target("bookkeeping <= 32 B per outstanding spied block (64-bit)", result->measured,
                     result->heap_bytes_per_block <= TARGET_MAX_BOOKKEEPING, detail);
    }
}

static double environment_number(const char *name, double fallback);

/* The closing line: every row where ole32mem is slower than the builtin, beyond noise (the whole 95% interval of the
 * paired ratio above 1) and within it (median above 1, interval reaching 1 or below), so that a regression shows at
 * a glance. Without an interval (fewer than 6 repetitions) a median above 1 counts as slower, noise unknown. */
static void print_summary(void)
{
    unsigned i, beyond = 0, within = 0;

    printf("\nslower than the builtin beyond noise (95%% interval of o/builtin above 1):");
    for (i = 0; i < row_count; i++)
    {
        const struct row *row = &rows[i];
        double low = row->ratio_low[TARGET_BUILTIN];

        if (!isnan(row->ratio[TARGET_BUILTIN]) && (isnan(low) ? row->ratio[TARGET_BUILTIN] > 1 : low > 1))
            printf("%s %s (%.3f)", beyond++ ? ";" : "", row->label, row->ratio[TARGET_BUILTIN]);
    }
    printf("%s\n", beyond ? "" : " none");
    printf("slower than the builtin within noise (median above 1, interval reaching 1):");
    for (i = 0; i < row_count; i++)
    {
        const struct row *row = &rows[i];
        double low = row->ratio_low[TARGET_BUILTIN];

        if (!isnan(row->ratio[TARGET_BUILTIN]) && !isnan(low) && row->ratio[TARGET_BUILTIN] > 1 && low <= 1)
            printf("%s %s (%.3f, %.3f-%.3f)", within++ ? ";" : "", row->label, row->ratio[TARGET_BUILTIN], low,
                   row->ratio_high[TARGET_BUILTIN]);
    }
    printf("%s\n", within ? "" : " none");
    if (config.reps < 6)
        printf("  (%u repetitions: too few for an interval; every median above 1 is listed as beyond noise)\n",
               config.reps);
}

/* BENCH_LFH=1: asks for Windows' low-fragmentation heap on the process heap before anything is timed
 * (HeapSetInformation(HeapCompatibilityInformation, 2)), to see what it changes; off by default, since the task
 * allocator must never change process-wide heap settings. Prints the heap's front end either way. */
static void configure_heap(void)
{
    ULONG mode = 2, before = ~0u, after = ~0u;
    BOOL set = FALSE;
    DWORD error = 0;

    HeapQueryInformation(GetProcessHeap(), HeapCompatibilityInformation, &before, sizeof(before), NULL);
    if (environment_number("BENCH_LFH", 0))
    {
        set = HeapSetInformation(GetProcessHeap(), HeapCompatibilityInformation, &mode, sizeof(mode));
        error = set ? 0 : GetLastError();
        HeapQueryInformation(GetProcessHeap(), HeapCompatibilityInformation, &after, sizeof(after), NULL);
        printf("process heap: HeapCompatibilityInformation %lu; BENCH_LFH=1: HeapSetInformation(2) %s (error %lu), "
               "now %lu\n", before, set ? "succeeded" : "failed", error, after);
    }
    else
        printf("process heap: HeapCompatibilityInformation %lu (0 standard, 2 low-fragmentation; BENCH_LFH=1 asks for "
               "2)\n", before);
}

/* --- main ----------------------------------------------------------------------------------------------------- */

/* Under Wine the host's load average is readable through drive Z: (the Unix root): it says how much the machine
 * was shared during the run. Empty elsewhere. */
static void read_host_load(char *buffer, DWORD size)
{
    HANDLE file = CreateFileA("Z:\\proc\\loadavg", GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    DWORD length = 0;
    char *end;

    buffer[0] = 0;
    if (file == INVALID_HANDLE_VALUE)
        return;
    if (ReadFile(file, buffer, size - 1, &length, NULL))
        buffer[length] = 0;
    CloseHandle(file);
    /* The first three fields: the 1, 5 and 15 minute averages. */
    if ((end = strchr(buffer, ' ')) && (end = strchr(end + 1, ' ')) && (end = strchr(end + 1, ' ')))
        *end = 0;
}

static double environment_number(const char *name, double fallback)
{
    char value[32];
    DWORD length = GetEnvironmentVariableA(name, value, sizeof(value));

    if (!length || length >= sizeof(value))
        return fallback;
    return atof(value);
}

static void configure(void)
{
    char value[8];
    DWORD length = GetEnvironmentVariableA("BENCH_QUICK", value, sizeof(value));
    double reps;

    config.quick = length && length < sizeof(value) && strcmp(value, "0");
    length = GetEnvironmentVariableA("BENCH_FILTER", config.filter, sizeof(config.filter));
    if (length >= sizeof(config.filter))
        config.filter[0] = 0;
    reps = environment_number("BENCH_REPS", config.quick ? QUICK_REPS : FULL_REPS);
    config.reps = reps < 1 ? 1 : reps > MAX_REPS ? MAX_REPS : (unsigned)reps;
    config.batch_ns = environment_number("BENCH_BATCH_MS", config.quick ? QUICK_BATCH_MS : FULL_BATCH_MS) * 1e6;
    config.batches = config.quick ? QUICK_BATCHES : FULL_BATCHES;
    config.budget_seconds = config.quick ? QUICK_BUDGET_SECONDS : FULL_BUDGET_SECONDS;
    config.memory_blocks = MEMORY_BLOCKS;
    config.memory_blocks_builtin = config.quick ? QUICK_MEMORY_BLOCKS_BUILTIN : FULL_MEMORY_BLOCKS_BUILTIN;
}

int main(void)
{
    LARGE_INTEGER frequency;
    SYSTEM_INFO system;
    LONGLONG start;
    char load_before[64], load_after[64];

    configure();
    QueryPerformanceFrequency(&frequency);
    bench_ns_per_tick = 1e9 / frequency.QuadPart;
    GetSystemInfo(&system);
    read_host_load(load_before, sizeof(load_before));
    start = bench_now();

    printf("ole32mem benchmark, %d-bit, %lu CPUs, %s run: %u repetitions of %u batches of ~%.1f ms per target, "
           "builtin budget %.0f s per spied level\n",
           (int)sizeof(void *) * 8, (unsigned long)system.dwNumberOfProcessors, config.quick ? "quick" : "full",
           config.reps, config.batches, config.batch_ns / 1e6, config.budget_seconds);
    if (config.filter[0])
        printf("BENCH_FILTER=%s: only the rows whose label contains one of these\n", config.filter);
    configure_heap();
    printf("targets, loaded by name:\n");
    if (!targets_load())
        return 1;
    scenarios_init();

    run_memory();
    print_table_header();
    run_plain();
    run_threads(0);
    run_spied();
    print_targets();
    print_summary();
    read_host_load(load_after, sizeof(load_after));
    printf("\ntotal %.1f s", (bench_now() - start) * bench_ns_per_tick * 1e-9);
    if (load_before[0] && load_after[0])
        printf("; host load average (1, 5, 15 min) at start %s, at end %s", load_before, load_after);
    printf("\n");
    fflush(stdout);
    /* The builtin still holds its spied blocks (freeing them would cost O(N^2)): leave without unloading anything. */
    ExitProcess(0);
}
