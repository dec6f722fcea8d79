/*
 * Deadlines: one libuv timer per server and a binary min-heap of the calls
 * that carry a grpc-timeout, so a call costs no handle of its own and its
 * deadline can be dropped in O(log n) when it completes first.
 * Loop thread only.
 */
#ifndef UGRPC_DEADLINE_H
#define UGRPC_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct ugrpc_call ugrpc_call;

typedef struct ugrpc__deadlines {
    ugrpc_call **heap; /* heap[i]->deadline_idx == i + 1 */
    size_t count, cap;
    uv_timer_t timer;
    uint64_t armed_for; /* deadline the timer is set for, 0 when stopped */
} ugrpc__deadlines;

/* Initialises the timer on `loop`; `data` goes to timer.data. */
void ugrpc__deadlines_init(ugrpc__deadlines *d, uv_loop_t *loop, void *data);
void ugrpc__deadlines_free(ugrpc__deadlines *d);

/* Tracks call->deadline. Returns 0 or UGRPC_ENOMEM. */
int ugrpc__deadlines_add(ugrpc__deadlines *d, ugrpc_call *call);
/* Stops tracking the call; a no-op when it is not tracked. */
void ugrpc__deadlines_remove(ugrpc__deadlines *d, ugrpc_call *call);
/* Removes and returns the call with the earliest deadline if it is at or
 * before `now`, else NULL. */
ugrpc_call *ugrpc__deadlines_pop_expired(ugrpc__deadlines *d, uint64_t now);
/* Re-arms the timer for the earliest deadline (or stops it). `cb` is the
 * timer callback. */
void ugrpc__deadlines_arm(ugrpc__deadlines *d, uv_timer_cb cb);

#endif
