/*
 * Host unit tests of the block table (blocktable.c): lookups, values, growth, backward-shift deletion with keys that
 * share a home slot and runs that wrap around the end of the array, a randomized comparison with a reference
 * model, out-of-memory behaviour, and the memory a million keys take.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "blocktable.h"
#include "host_platform.h"
#include "host_test.h"
#include "platform.h"

enum
{
    MIN_CAPACITY = 16,
    ALIGNMENT_BITS = 3,
    MILLION = 1000000,
    MAX_BYTES_PER_KEY = 32,
    POOL = 4096,
    RANDOM_STEPS = 200000,
};

/* The table's hash, restated to build keys that collide (blocktable.c: Fibonacci hashing of key >> 3). */
static size_t home_of(uintptr_t key, size_t capacity)
{
    unsigned bits = 0;

    while ((size_t)1 << bits < capacity)
        bits++;
    return (size_t)(((key >> ALIGNMENT_BITS) * (uintptr_t)0x9e3779b97f4a7c15ull) >> (sizeof(uintptr_t) * CHAR_BIT - bits));
}

/* The n-th key (8-aligned, from `start` up) whose home slot in a table of `capacity` is `slot`. */
static uintptr_t key_with_home(size_t slot, size_t capacity, uintptr_t *cursor)
{
    while (home_of(*cursor, capacity) != slot)
        *cursor += 8;
    *cursor += 8;
    return *cursor - 8;
}

/* Every key must be reachable from its home slot without crossing an empty slot. */
static int run_invariant_holds(const struct block_table *table)
{
    size_t i, slot, mask = table->capacity - 1, count = 0;

    for (i = 0; i < table->capacity; i++)
    {
        if (!table->keys[i])
            continue;
        count++;
        for (slot = home_of(table->keys[i], table->capacity); slot != i; slot = (slot + 1) & mask)
            if (!table->keys[slot])
                return 0;
    }
    return count == table->count;
}

static void test_empty(void)
{
    struct block_table table = BLOCK_TABLE_INIT_KEYS;
    void *value = (void *)1;

    ok(!block_table_lookup(&table, (void *)0x1000, &value), "lookup in an empty table\n");
    ok(!block_table_remove(&table, (void *)0x1000, NULL), "remove from an empty table\n");
    ok(block_table_memory(&table) == 0, "empty table holds %zu bytes\n", block_table_memory(&table));
    block_table_clear(&table);
    ok(table.capacity == 0 && table.keys == NULL, "clear of an empty table\n");
}

static void test_values(void)
{
    struct block_table table = BLOCK_TABLE_INIT_VALUES;
    void *value = NULL;
    uintptr_t k;

    for (k = 1; k <= 100; k++)
        ok(block_table_insert(&table, (void *)(k * 16), (void *)(k * 3)), "insert %zu\n", (size_t)k);
    ok(table.count == 100, "count %zu\n", table.count);
    ok(block_table_lookup(&table, (void *)(50 * 16), &value) && value == (void *)150, "value %p\n", value);
    ok(block_table_insert(&table, (void *)(50 * 16), (void *)7) && table.count == 100, "replace\n");
    ok(block_table_lookup(&table, (void *)(50 * 16), &value) && value == (void *)7, "replaced value %p\n", value);
    ok(block_table_remove(&table, (void *)(50 * 16), &value) && value == (void *)7, "removed value %p\n", value);
    ok(!block_table_lookup(&table, (void *)(50 * 16), NULL), "removed key still found\n");
    ok(block_table_memory(&table) == table.capacity * 2 * sizeof(void *), "memory %zu\n",
       block_table_memory(&table));
    block_table_clear(&table);
    ok(block_table_memory(&table) == 0 && table.count == 0, "clear\n");
}

struct visit_state
{
    size_t count;
    uintptr_t sum;
};

static void visit(const void *key, void *value, void *context)
{
    struct visit_state *state = context;

    (void)value;
    state->count++;
    state->sum += (uintptr_t)key;
}

static void test_growth(void)
{
    struct block_table table = BLOCK_TABLE_INIT_KEYS;
    struct visit_state state = {0, 0};
    uintptr_t k, sum = 0;
    size_t capacity = 0;
    int all = 1, grew = 0;

    for (k = 1; k <= 10000; k++)
    {
        all &= block_table_insert(&table, (void *)(k * 16), NULL);
        sum += k * 16;
        if (table.capacity != capacity)
        {
            grew++;
            capacity = table.capacity;
            ok((capacity & (capacity - 1)) == 0 && capacity >= MIN_CAPACITY, "capacity %zu\n", capacity);
        }
        if (table.count * 4 > table.capacity * 3)
        {
            ok(0, "table %zu/%zu more than 3/4 full\n", table.count, table.capacity);
            break;
        }
    }
    ok(all, "an insert failed\n");
    ok(grew >= 10, "grew %d times\n", grew);
    for (k = 1, all = 1; k <= 10000; k++)
        all &= block_table_lookup(&table, (void *)(k * 16), NULL);
    ok(all, "a key was lost in growth\n");
    ok(!block_table_lookup(&table, (void *)(10001 * 16), NULL), "absent key found\n");
    ok(run_invariant_holds(&table), "run invariant broken after growth\n");
    block_table_foreach(&table, visit, &state);
    ok(state.count == 10000 && state.sum == sum, "foreach: %zu keys\n", state.count);
    block_table_clear(&table);
}

/* Keys sharing a home slot, and a run that wraps from the last slot to the first. */
static void test_collisions(void)
{
    struct block_table table = BLOCK_TABLE_INIT_KEYS;
    uintptr_t keys[12], cursor = 0x10000;
    size_t i, j, order;
    int all;

    /* Reserve first, so that the capacity stays MIN_CAPACITY and the homes computed below stay right. */
    ok(block_table_reserve(&table, 12) && table.capacity == MIN_CAPACITY, "reserve: capacity %zu\n", table.capacity);
    for (i = 0; i < 4; i++)
        keys[i] = key_with_home(MIN_CAPACITY - 2, MIN_CAPACITY, &cursor); /* run 14, 15, 0, 1 */
    for (i = 4; i < 7; i++)
        keys[i] = key_with_home(0, MIN_CAPACITY, &cursor); /* pushed to 2, 3, 4 */
    for (i = 7; i < 9; i++)
        keys[i] = key_with_home(1, MIN_CAPACITY, &cursor); /* 5, 6 */
    keys[9] = key_with_home(3, MIN_CAPACITY, &cursor);     /* 7 */
    keys[10] = key_with_home(7, MIN_CAPACITY, &cursor);    /* 8 */
    keys[11] = key_with_home(9, MIN_CAPACITY, &cursor);    /* 9 */

    /* Remove in several orders; every survivor must stay reachable. */
    for (order = 0; order < 3; order++)
    {
        for (i = 0; i < 12; i++)
            block_table_insert(&table, (void *)keys[i], NULL);
        ok(table.count == 12 && table.capacity == MIN_CAPACITY, "count %zu capacity %zu\n", table.count,
           table.capacity);
        ok(run_invariant_holds(&table), "run invariant broken after inserts\n");
        for (i = 0; i < 12; i++)
        {
            size_t victim = order == 0 ? i : order == 1 ? 11 - i : (i * 5) % 12;

            ok(block_table_remove(&table, (void *)keys[victim], NULL), "remove key %zu\n", victim);
            ok(run_invariant_holds(&table), "order %zu: run invariant broken after removing key %zu\n", order,
               victim);
            for (j = 0, all = 1; j < 12; j++)
            {
                int removed = 0;
                size_t k;

                for (k = 0; k <= i; k++)
                    removed |= (order == 0 ? k : order == 1 ? 11 - k : (k * 5) % 12) == j;
                all &= block_table_lookup(&table, (void *)keys[j], NULL) == !removed;
            }
            ok(all, "order %zu: lookups wrong after removing key %zu\n", order, victim);
        }
        ok(table.count == 0, "count %zu\n", table.count);
    }
    block_table_clear(&table);
}

/* Half the keys are 8 apart, half 4096 apart (they share their low bits, as page-aligned blocks do). */
static uintptr_t pool_key(uintptr_t i)
{
    return (i & 1) ? (i + 1) * 8 : 0x1000000 + i * 4096;
}

/* Random inserts and removes over a small pool of keys, against a plain array. */
static void test_random(void)
{
    struct block_table table = BLOCK_TABLE_INIT_VALUES;
    static unsigned char present[POOL];
    uint64_t x = 88172645463325252ull;
    size_t i, count = 0;
    int mismatches = 0, invariant = 1;

    for (i = 0; i < RANDOM_STEPS; i++)
    {
        uintptr_t k;
        void *value;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        k = (uintptr_t)(x % POOL);
        uintptr_t key = pool_key(k);

        if ((x >> 32) % 3)
        {
            block_table_insert(&table, (void *)key, (void *)(key ^ 1));
            count += !present[k];
            present[k] = 1;
        }
        else
        {
            int removed = block_table_remove(&table, (void *)key, &value);

            mismatches += removed != present[k] || (removed && value != (void *)(key ^ 1));
            count -= present[k];
            present[k] = 0;
        }
        if (i % 1000 == 0)
            invariant &= run_invariant_holds(&table);
    }
    ok(!mismatches, "%d removes disagreed with the model\n", mismatches);
    ok(invariant, "run invariant broken\n");
    ok(table.count == count, "count %zu, model %zu\n", table.count, count);
    for (i = 0, mismatches = 0; i < POOL; i++)
    {
        uintptr_t key = pool_key(i);
        mismatches += block_table_lookup(&table, (void *)key, NULL) != present[i];
    }
    ok(!mismatches, "%d lookups disagreed with the model\n", mismatches);
    block_table_clear(&table);
}

static void test_out_of_memory(void)
{
    struct block_table table = BLOCK_TABLE_INIT_VALUES;
    uintptr_t k;
    int all = 1;

    host_fail_meta_after(1);
    ok(!block_table_insert(&table, (void *)16, NULL), "insert without memory succeeded\n");
    ok(table.count == 0 && table.capacity == 0, "failed insert changed the table\n");
    host_fail_meta_after(2); /* the values array of the first resize */
    ok(!block_table_insert(&table, (void *)16, NULL), "insert without memory for values succeeded\n");
    ok(table.count == 0 && table.capacity == 0 && table.keys == NULL, "failed insert changed the table\n");

    ok(block_table_reserve(&table, 100), "reserve\n");
    host_fail_meta_after(1);
    for (k = 1; k <= 100; k++)
        all &= block_table_insert(&table, (void *)(k * 16), NULL);
    host_fail_meta_after(0);
    ok(all, "an insert after a matching reserve failed\n");
    host_fail_meta_after(1);
    for (k = 101; k <= 1000 && block_table_insert(&table, (void *)(k * 16), NULL); k++)
        ;
    host_fail_meta_after(0);
    ok(k <= 1000, "growth did not fail\n");
    for (k = 1, all = 1; k <= 100; k++)
        all &= block_table_lookup(&table, (void *)(k * 16), NULL);
    ok(all, "failed growth lost keys\n");
    ok(run_invariant_holds(&table), "run invariant broken after a failed growth\n");
    ok(!block_table_reserve(&table, SIZE_MAX), "reserve(SIZE_MAX) succeeded\n");
    ok(!block_table_reserve(&table, SIZE_MAX / 2), "reserve(SIZE_MAX / 2) succeeded\n");
    block_table_clear(&table);
}

static void test_million(void)
{
    struct block_table table = BLOCK_TABLE_INIT_KEYS;
    uintptr_t k;
    int all = 1;

    for (k = 1; k <= MILLION; k++)
        all &= block_table_insert(&table, (void *)(k * 48), NULL);
    ok(all, "an insert failed\n");
    ok(block_table_memory(&table) <= (size_t)MAX_BYTES_PER_KEY * MILLION, "%zu bytes for a million keys\n",
       block_table_memory(&table));
    for (k = 1; k <= MILLION; k += 2)
        all &= block_table_remove(&table, (void *)(k * 48), NULL);
    for (k = 2; k <= MILLION; k += 2)
        all &= block_table_lookup(&table, (void *)(k * 48), NULL);
    ok(all, "keys lost among a million\n");
    ok(table.count == MILLION / 2, "count %zu\n", table.count);
    block_table_clear(&table);
}

int main(void)
{
    test_empty();
    test_values();
    test_growth();
    test_collisions();
    test_random();
    test_out_of_memory();
    test_million();
    return test_summary("host_blocktable");
}
