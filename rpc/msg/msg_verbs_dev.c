/* The RDMA device of a domain and its memory registrations (see
 * msg_verbs_dev.h), and the completion status table. */
#include "msg_verbs_dev.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "msg_transport.h"

int mlos__verbs_open(mlos_domain_t *dom)
{
    struct ibv_device **list;
    struct mlos_verbs_dev *d;
    const char *want = getenv("MLOS_VERBS_DEVICE");
    int n = 0, pick = -1, rc = MLOS_ENOTSUP;

    list = ibv_get_device_list(&n);
    if (!list) /* no uverbs in the kernel at all */
        return MLOS_ENOTSUP;
    for (int i = 0; i < n && pick < 0; i++)
        if (!want || !*want || !strcmp(ibv_get_device_name(list[i]), want))
            pick = i;
    if (pick < 0 || !(d = calloc(1, sizeof(*d))))
        goto out;
    d->port = 1;
    snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(list[pick]));
    rc = MLOS_EIO;
    if (!(d->ctx = ibv_open_device(list[pick])))
        goto fail;
    if (ibv_query_device(d->ctx, &d->dattr) || ibv_query_port(d->ctx, d->port, &d->pattr))
        goto fail;
    if (!(d->pd = ibv_alloc_pd(d->ctx)))
        goto fail;
    dom->verbs = d;
    rc = 0;
    goto out;
fail:
    if (d->ctx)
        ibv_close_device(d->ctx);
    free(d);
out:
    ibv_free_device_list(list);
    return rc;
}

void mlos__verbs_close(mlos_domain_t *dom)
{
    struct mlos_verbs_dev *d = dom->verbs;
    if (!d)
        return;
    ibv_dealloc_pd(d->pd);
    ibv_close_device(d->ctx);
    free(d);
    dom->verbs = NULL;
}

int mlos__verbs_reg(mlos_domain_t *dom, mlos_mr_t *mr)
{
    struct mlos_verbs_dev *d = dom->verbs;
    struct ibv_mr *m;
    int flags = IBV_ACCESS_LOCAL_WRITE; /* RDMA READ lands in local memory */
    if (!d)
        return 0;
    if (mr->access & MLOS_ACCESS_REMOTE_READ)
        flags |= IBV_ACCESS_REMOTE_READ;
    if (mr->access & MLOS_ACCESS_REMOTE_WRITE)
        flags |= IBV_ACCESS_REMOTE_WRITE;
    if (!(m = ibv_reg_mr(d->pd, mr->addr, mr->len, flags)))
        return MLOS_ENOMEM; /* usually the locked-memory limit */
    mr->verbs_mr = m;
    mr->verbs_rkey = m->rkey;
    return 0;
}

void mlos__verbs_dereg(mlos_mr_t *mr)
{
    if (mr->verbs_mr)
        ibv_dereg_mr(mr->verbs_mr); /* the NIC rkey stops working here */
    mr->verbs_mr = NULL;
    mr->verbs_rkey = 0;
}

int mlos_verbs_dom_ensure(mlos_domain_t *dom)
{
    int rc;
    uint32_t seen = 0;
    if (dom->verbs)
        return 0;
    if ((rc = mlos__verbs_open(dom)) < 0)
        return rc;
    /* Regions registered before the device was open: give them NIC keys. */
    for (uint32_t i = 0; i < 65536u && seen < dom->nmrs; i++) {
        mlos_mr_t *mr = dom->mrs[i];
        if (!mr)
            continue;
        seen++;
        if (!mr->verbs_mr && (rc = mlos__verbs_reg(dom, mr)) < 0)
            return rc;
    }
    return 0;
}

int mlos_verbs_find_gid(struct mlos_verbs_dev *d, uint32_t ipv4, int *index, union ibv_gid *gid)
{
    uint8_t want[16] = {0};
    int v1 = -1;
    struct ibv_gid_entry v1e;
    if (d->pattr.link_layer == IBV_LINK_LAYER_INFINIBAND) {
        *index = 0;
        return ibv_query_gid(d->ctx, d->port, 0, gid) ? MLOS_EIO : 0;
    }
    want[10] = want[11] = 0xff; /* IPv4-mapped IPv6 */
    uint32_t be = htonl(ipv4);
    memcpy(want + 12, &be, 4);
    for (int i = 0; i < d->pattr.gid_tbl_len; i++) {
        struct ibv_gid_entry e;
        if (ibv_query_gid_ex(d->ctx, d->port, (uint32_t)i, &e, 0))
            continue; /* empty entry */
        if (memcmp(e.gid.raw, want, 16))
            continue;
        if (e.gid_type == IBV_GID_TYPE_ROCE_V2) {
            *index = i;
            *gid = e.gid;
            return 0;
        }
        if (v1 < 0) {
            v1 = i;
            v1e = e;
        }
    }
    if (v1 < 0)
        return MLOS_ENOENT;
    *index = v1;
    *gid = v1e.gid;
    return 0;
}

/* Remote access errors cannot tell a bad key from missing rights or a bad
 * range: the core already checked rights and bounds against the exported
 * key, so what is left is almost always a key the target revoked. */
int mlos_verbs_wc_error(int st, const char **why)
{
    const char *w;
    int rc;
    switch (st) {
    case IBV_WC_SUCCESS: rc = 0; w = "success"; break;
    case IBV_WC_REM_ACCESS_ERR: rc = MLOS_EKEY; w = "target NIC refused the access (revoked or unknown key, rights or bounds)"; break;
    case IBV_WC_LOC_PROT_ERR: rc = MLOS_EKEY; w = "local region key no longer valid"; break;
    case IBV_WC_MW_BIND_ERR: rc = MLOS_EACCES; w = "memory window bind refused"; break;
    case IBV_WC_LOC_ACCESS_ERR: rc = MLOS_EACCES; w = "local region does not allow this access"; break;
    case IBV_WC_LOC_LEN_ERR: rc = MLOS_ERANGE; w = "local length error (message larger than the buffer)"; break;
    case IBV_WC_REM_INV_REQ_ERR: rc = MLOS_ERANGE; w = "target rejected the request (length or operation invalid)"; break;
    case IBV_WC_WR_FLUSH_ERR: rc = MLOS_ECONNRESET; w = "flushed: the queue pair is in error state"; break;
    case IBV_WC_RETRY_EXC_ERR: rc = MLOS_ECONNRESET; w = "transport retries exhausted (peer unreachable)"; break;
    case IBV_WC_RNR_RETRY_EXC_ERR: rc = MLOS_ECONNRESET; w = "peer had no receive posted (RNR retries exhausted)"; break;
    case IBV_WC_REM_ABORT_ERR: rc = MLOS_ECONNRESET; w = "peer aborted the operation"; break;
    case IBV_WC_REM_OP_ERR: rc = MLOS_EIO; w = "target could not complete the operation"; break;
    case IBV_WC_LOC_QP_OP_ERR: rc = MLOS_EIO; w = "local queue pair error"; break;
    case IBV_WC_FATAL_ERR: rc = MLOS_EIO; w = "fatal device error"; break;
    default: rc = MLOS_EIO; w = "unexpected completion error"; break;
    }
    if (why)
        *why = w;
    return rc;
}

int mlos_verbs_wc_recoverable(int st)
{
    switch (st) {
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_LOC_PROT_ERR:
    case IBV_WC_LOC_ACCESS_ERR:
        return 1;
    default:
        return 0;
    }
}
