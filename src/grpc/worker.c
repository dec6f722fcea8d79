/*
 * The worker pool: blocking work runs on libuv's thread pool.
 *
 * Only `arg` crosses threads. The job holds a reference on its call so the
 * call object outlives a cancellation; the done callback runs on the loop
 * thread and is told whether the call is still alive.
 */
#include "alloc.h"
#include "call.h"
#include "server.h"

typedef struct job {
    uv_work_t req;
    ugrpc_call *call;
    ugrpc_work_fn work;
    ugrpc_done_fn done;
    void *arg;
    uint64_t queued_ns, started_ns; /* started_ns is written by the worker thread */
} job;

static void run_job(uv_work_t *req)
{
    job *j = req->data;
    j->started_ns = uv_hrtime();
    j->work(j->arg);
}

/* Counts the queue wait on the loop thread: libuv orders the worker's write
 * before after_job runs. */
static void count_wait(ugrpc_server *srv, const job *j)
{
    double secs = (double)(j->started_ns - j->queued_ns) / 1e9;
    size_t b = 0;
    while (b < UGRPC_WAIT_BUCKETS && secs > ugrpc_wait_bounds[b])
        b++;
    srv->stats.work_wait[b]++;
    srv->stats.work_wait_sum += secs;
}

static void after_job(uv_work_t *req, int status)
{
    job *j = req->data;
    ugrpc_call *call = j->call;
    ugrpc_server *srv = call->srv;
    (void)status; /* UV_ECANCELED is never produced: jobs are not uv_cancel()ed */
    srv->stats.work_pending--;
    count_wait(srv, j);
    j->done(call, j->arg, ugrpc_call_is_alive(call) ? 0 : UGRPC_ECANCELLED);
    ugrpc__free(j);
    ugrpc__call_unref(call);
}

int ugrpc_call_offload(ugrpc_call *call, ugrpc_work_fn work, ugrpc_done_fn done, void *arg)
{
    if (work == NULL || done == NULL) return UGRPC_EINVAL;
    if (!ugrpc_call_is_alive(call)) return call->finished ? UGRPC_ESTATE : UGRPC_ECANCELLED;
    ugrpc_server *srv = call->srv;
    if (srv->stats.work_pending >= srv->opts.max_pending_work) return UGRPC_EBUSY;
    job *j = ugrpc__malloc(sizeof(*j));
    if (j == NULL) return UGRPC_ENOMEM;
    j->req.data = j;
    j->call = call;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->queued_ns = j->started_ns = uv_hrtime();
    int rv = uv_queue_work(srv->loop, &j->req, run_job, after_job);
    if (rv < 0) {
        ugrpc__free(j);
        ugrpc__log(srv, UGRPC_LOG_ERROR, "uv_queue_work: %s", uv_strerror(rv));
        return UGRPC_EIO;
    }
    ugrpc__call_ref(call);
    srv->stats.work_pending++;
    return 0;
}
