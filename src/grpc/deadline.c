/* Per-server deadline heap. */
#include "deadline.h"

#include "alloc.h"
#include "call.h"

void ugrpc__deadlines_init(ugrpc__deadlines *d, uv_loop_t *loop, void *data)
{
    d->heap = NULL;
    d->count = d->cap = 0;
    d->armed_for = 0;
    uv_timer_init(loop, &d->timer);
    d->timer.data = data;
}

void ugrpc__deadlines_free(ugrpc__deadlines *d)
{
    ugrpc__free(d->heap);
    d->heap = NULL;
    d->count = d->cap = 0;
}

static void place(ugrpc__deadlines *d, size_t i, ugrpc_call *c)
{
    d->heap[i] = c;
    c->deadline_idx = i + 1;
}

static void sift_up(ugrpc__deadlines *d, size_t i)
{
    ugrpc_call *c = d->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (d->heap[parent]->deadline <= c->deadline) break;
        place(d, i, d->heap[parent]);
        i = parent;
    }
    place(d, i, c);
}

static void sift_down(ugrpc__deadlines *d, size_t i)
{
    ugrpc_call *c = d->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t best = c->deadline;
        if (l < d->count && d->heap[l]->deadline < best) m = l, best = d->heap[l]->deadline;
        if (r < d->count && d->heap[r]->deadline < best) m = r;
        if (m == i) break;
        place(d, i, d->heap[m]);
        i = m;
    }
    place(d, i, c);
}

int ugrpc__deadlines_add(ugrpc__deadlines *d, ugrpc_call *call)
{
    if (call->deadline_idx != 0) return 0;
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        ugrpc_call **heap = ugrpc__realloc(d->heap, cap * sizeof(*heap));
        if (heap == NULL) return UGRPC_ENOMEM;
        d->heap = heap;
        d->cap = cap;
    }
    place(d, d->count++, call);
    sift_up(d, d->count - 1);
    return 0;
}

void ugrpc__deadlines_remove(ugrpc__deadlines *d, ugrpc_call *call)
{
    size_t idx = call->deadline_idx;
    if (idx == 0) return;
    call->deadline_idx = 0;
    size_t i = idx - 1;
    ugrpc_call *last = d->heap[--d->count];
    if (i == d->count) return;
    place(d, i, last);
    if (i > 0 && d->heap[(i - 1) / 2]->deadline > last->deadline)
        sift_up(d, i);
    else
        sift_down(d, i);
}

ugrpc_call *ugrpc__deadlines_pop_expired(ugrpc__deadlines *d, uint64_t now)
{
    if (d->count == 0 || d->heap[0]->deadline > now) return NULL;
    ugrpc_call *c = d->heap[0];
    ugrpc__deadlines_remove(d, c);
    return c;
}

void ugrpc__deadlines_arm(ugrpc__deadlines *d, uv_timer_cb cb)
{
    if (d->count == 0) {
        if (d->armed_for != 0) uv_timer_stop(&d->timer);
        d->armed_for = 0;
        return;
    }
    uint64_t next = d->heap[0]->deadline;
    if (next == d->armed_for) return;
    uint64_t now = uv_now(d->timer.loop);
    uv_timer_start(&d->timer, cb, next > now ? next - now : 0, 0);
    d->armed_for = next;
}
