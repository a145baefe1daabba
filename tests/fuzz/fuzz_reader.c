/*
 * tests/fuzz/fuzz_reader.c — libFuzzer target for the trace reader
 * (replay/trace_read.c): any byte string as a trace file. The reader must
 * never crash, read out of bounds, leak or hang; it may only refuse the file
 * or report damage. Built with ALLOCSIM_FUZZ=ON and clang; run by ctest for a
 * bounded time from a corpus of small real traces (tests/format/mk_trace).
 *
 * Inputs whose first byte is 'Z' or 'O' are a chunk's decoded payload,
 * wrapped in a valid file (a closed chunk, or an open one cut short:
 * tests/fuzz/fuzz_wrap.h), which sends the fuzzer past the checksums into
 * the event decoder itself; the reader decodes an open chunk's frame as far
 * as its whole blocks go.
 *
 * Every input is also read with AS_READ_NO_ADDR in lockstep, by turns through
 * as_reader_next_plain (whose runs carry no seq or callsite; decoded each of
 * the asf_reader_force_plain ways by turns over inputs) and
 * as_reader_next_batch. That reader does not check address codes (trace.h),
 * so on a chunk whose events the full reader rejects it may deliver more of
 * them; otherwise it must deliver the same events, stats and problem (abort
 * otherwise). Only values the full reader takes from the address predictors
 * may differ, and on crafted input those can land in addr, old_addr, arg,
 * arg2, a mark's name or a non-heap op's size; the rest is compared. Once
 * the two part, what is left of the lean side is read to its end: it must
 * not crash, and its stats' max_id must bound every id it delivered, which
 * the id limit bounds in turn.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_wrap.h"

/* max(m, every id and old_id in evs[0..n) + 1) */
static uint64_t max_ids(uint64_t m, const as_event_t *evs, int n)
{
    for (int i = 0; i < n; i++) {
        if (evs[i].id != AS_NO_ID && evs[i].id + 1ull > m)
            m = evs[i].id + 1ull;
        if (evs[i].old_id != AS_NO_ID && evs[i].old_id + 1ull > m)
            m = evs[i].old_id + 1ull;
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_trace_file(data, size, &size);
    if (!path)
        return 0;
    as_err_t err, lerr;
    as_reader_t *r = as_reader_open(path, &err);
    as_reader_t *lr = as_reader_open_flags(path, AS_READ_NO_ADDR, &lerr);
    if (!r != !lr || err != lerr)
        abort();
    if (!r)
        return 0;
    asf_reader_force_plain(lr, (int)(size % 3));
    as_event_t lev[3];
    int lk = 0, li = 0;         /* lean batch: events in it, next to compare */
    int plain = 0;              /* it came from as_reader_next_plain */
    int parted = 0;             /* the lean side delivered what the full one did not */
    uint64_t lean_ids = 0;      /* largest id the lean side delivered, + 1 */
    const as_header_t *h = as_reader_header(r);
    size_t sum = h->exe ? strlen(h->exe) : 0;
    as_event_t ev;
    int k;
    uint64_t n = 0;
    while ((k = as_reader_next(r, &ev)) == 1 && n++ < 10000000) {
        if (parted)
            continue;
        if (li == lk) {
            as_hevent_t hv[3];
            uint64_t t;
            lk = n & 1 ? as_reader_next_plain(lr, hv, 1 + n % 3, &t) : 0;
            plain = lk > 0;
            for (int i = 0; i < lk; i++)
                lev[i] = (as_event_t){.time_ns = t, .op = hv[i].op,
                                      .flags = hv[i].flags, .thread = hv[i].thread,
                                      .id = hv[i].id, .old_id = hv[i].old_id,
                                      .size = hv[i].size, .arg = hv[i].arg};
            if (!plain)
                lk = as_reader_next_batch(lr, lev, 1 + n % 3);
            li = 0;
            lean_ids = max_ids(lean_ids, lev, lk);
        }
        const as_event_t *l = &lev[li++];
        if (lk <= 0 || (!plain && (l->seq != ev.seq || l->callsite != ev.callsite)) ||
            l->time_ns != ev.time_ns || l->op != ev.op ||
            l->flags != ev.flags || l->thread != ev.thread || l->id != ev.id ||
            l->old_id != ev.old_id || l->process != ev.process ||
            (ev.op < AS_OP_MMAP && l->size != ev.size) || !l->name != !ev.name ||
            !l->sample != !ev.sample ||
            (l->sample && memcmp(l->sample, ev.sample, sizeof *l->sample)))
            parted = 1;
        sum += ev.id + ev.old_id + (size_t)ev.addr;
        if (ev.name)
            sum += strlen(ev.name);
        if (ev.sample)
            sum += (size_t)ev.sample->rss;
        if (ev.callsite) {
            const char *mod, *bid;
            uint64_t off;
            if (as_reader_callsite(r, ev.callsite, &mod, &off, &bid) == 0)
                sum += strlen(mod) + strlen(bid) + (size_t)off;
        }
    }
    as_read_stats_t st, lst;
    as_reader_stats(r, &st);
    /* unless the event cap stopped the loop, both sides are at the end */
    int lend = 0;
    if (k != 1 && !parted && (li != lk || (lend = as_reader_next_batch(lr, lev, 1)) != k)) {
        parted = 1;
        lean_ids = max_ids(lean_ids, lev, lend);
    }
    if (parted && k != 1)
        while (n++ < 10000000 && (lend = as_reader_next_batch(lr, lev, 3)) > 0)
            lean_ids = max_ids(lean_ids, lev, lend);
    as_reader_stats(lr, &lst);
    if (lean_ids > lst.max_id || lst.max_id > AS_READER_ID_LIMIT)
        abort();
    char detail[200], ldetail[200];
    as_reader_problem(r, detail, sizeof detail);
    /* parting needs a chunk the full reader dropped, whose events the lean
     * one delivers at least up to where the full one stopped */
    if (k != 1 && parted && (!st.chunks_damaged || lst.events < st.events))
        abort();
    /* In an event the full reader rejects for its address code, the lean
     * one reads on and may take a created id before it fails too: max_id
     * may then be larger on the lean side, only with a chunk dropped. */
    if (st.chunks_damaged && lst.max_id >= st.max_id)
        lst.max_id = st.max_id;
    if (k != 1 && !parted &&
        (memcmp(&st, &lst, sizeof st) ||
         as_reader_problem(lr, ldetail, sizeof ldetail) != as_reader_problem(r, NULL, 0) ||
         strcmp(detail, ldetail)))
        abort();
    as_reader_close(lr);
    sum += strlen(detail) + st.events;
    as_reader_close(r);
    return sum == 1 ? 1 : 0;   /* keep sum alive; libFuzzer wants 0 */
}
