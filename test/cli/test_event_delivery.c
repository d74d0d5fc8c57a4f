/* Event delivery modes on the libos evloop. This file is built once per
 * mode, each time linked with event_delivery.c and exactly one mode
 * component (as a composed image would be), and checks that mode's
 * behaviour: when the application sees an occurrence, in what form, and
 * what happens when posts outrun it. */
#include <string.h>

#include "bpf/hooks.h"
#include "check.h"
#include "event_delivery.h"
#include "hal.h"
#include "mlos_error.h"

static struct mlos_evloop loop;
static struct mlos_ed ed;
static struct mlos_ed_source A, B;

static int in_post; /* 1 while mlos_ed_post runs */
static struct rec {
    uint32_t src, seq;
    uint64_t value;
    int during_post;
} seen[256];
static int nseen;

static void on_event(struct mlos_ed *e, struct mlos_ed_source *src, uint64_t value)
{
    seen[nseen++] = (struct rec){src->id, 0, value, in_post};
    if (value == 4 && !strcmp(mlos_ed_mode_name(), "handler"))
        mlos_ed_post(e, &B, 5); /* posted from a handler: next round */
}

static void on_msg(struct mlos_ed *e, const struct mlos_frame_hdr *hdr, const uint8_t *payload)
{
    struct rec r = {0};
    CHECK_EQ(hdr->type, MLOS_FRAME_MSG);
    CHECK_EQ(hdr->request_id, MLOS_ED_MSG_TYPE);
    CHECK_EQ(hdr->length, MLOS_ED_MSG_LEN);
    CHECK_EQ(mlos_ed_msg_decode(payload, hdr->length, &r.src, &r.seq, &r.value), 0);
    r.during_post = in_post;
    seen[nseen++] = r;
}

static int post(struct mlos_ed_source *s, uint64_t v)
{
    in_post = 1;
    int rc = mlos_ed_post(&ed, s, v);
    in_post = 0;
    return rc;
}

/* A timer posts from inside the running loop; a second one ends the run. */
static struct mlos_timer t_post, t_end;
static int posts_rc[3];
static void timer_post(struct mlos_timer *t)
{
    for (int i = 0; i < 3; i++)
        posts_rc[i] = post(&A, 100 + i);
}
static void timer_end(struct mlos_timer *t) { mlos_evloop_stop(&loop); }

static void setup(void)
{
    mlos_evloop_init(&loop);
    ed.handler = on_event;
    ed.on_msg = on_msg;
    CHECK_EQ(mlos_ed_init(&ed, &loop), 0);
    mlos_ed_source_init(&A, 7);
    mlos_ed_source_init(&B, 9);
    nseen = 0;
}

static void run_loop_briefly(void)
{
    uint64_t now = mlos_hal_now_ns();
    t_post.fn = timer_post;
    t_end.fn = timer_end;
    mlos_timer_start(&loop, &t_post, now + 1000000);
    mlos_timer_start(&loop, &t_end, now + 20000000);
    mlos_evloop_run(&loop);
}

static void test_immediate(void)
{
    uint64_t last;
    setup();
    CHECK_EQ(post(&A, 1), 1);
    CHECK_EQ(post(&A, 2), 1);
    CHECK_EQ(post(&B, 3), 1);
    CHECK_EQ(post(&A, 4), 1);
    CHECK_EQ(nseen, 4); /* all delivered inside mlos_ed_post */
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(seen[i].value, i + 1);
        CHECK_EQ(seen[i].during_post, 1);
    }
    CHECK_EQ(seen[2].src, 9);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 0); /* the loop has nothing to do */
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), MLOS_ENOTSUP);
    ed.handler = NULL;
    CHECK_EQ(post(&A, 5), MLOS_EINVAL);
    ed.handler = on_event;
    setup();
    run_loop_briefly();
    CHECK_EQ(nseen, 3);
    CHECK_EQ(posts_rc[0], 1);
    CHECK_EQ(ed.delivered, 3);
}

static void test_coalesced(void)
{
    uint64_t last = 0;
    setup();
    CHECK_EQ(post(&A, 1), 0);
    CHECK_EQ(post(&A, 2), 0);
    CHECK_EQ(post(&B, 3), 0);
    CHECK_EQ(post(&A, 4), 0);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 0); /* nothing scheduled */
    CHECK_EQ(nseen, 0);                         /* nothing delivered until polled */
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), 3);  /* three occurrences merged */
    CHECK_EQ(last, 4);
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), 0);  /* reset by the poll */
    CHECK_EQ(last, 4);                          /* untouched when nothing pending */
    CHECK_EQ(mlos_ed_poll(&ed, &B, &last), 1);
    CHECK_EQ(last, 3);
    for (int i = 0; i < 100000; i++) /* never drops, never grows */
        post(&B, (uint64_t)i);
    CHECK_EQ(mlos_ed_poll(&ed, &B, &last), 100000);
    CHECK_EQ(last, 99999);
    CHECK_EQ(ed.dropped, 0);
    setup();
    run_loop_briefly();
    CHECK_EQ(nseen, 0);
    CHECK_EQ(posts_rc[2], 0);
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), 3);
    CHECK_EQ(last, 102);
}

static void test_handler(void)
{
    uint64_t last;
    setup();
    CHECK_EQ(post(&A, 1), 0);
    CHECK_EQ(post(&A, 2), 0);
    CHECK_EQ(post(&B, 3), 0);
    CHECK_EQ(post(&A, 4), 0);
    CHECK_EQ(nseen, 0);                         /* not at post time */
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1); /* one loop event carries all four */
    CHECK_EQ(nseen, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(seen[i].value, i + 1); /* once each, in post order */
        CHECK_EQ(seen[i].during_post, 0);
    }
    CHECK_EQ(seen[2].src, 9);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1); /* B:5, posted by the handler, next round */
    CHECK_EQ(nseen, 5);
    CHECK_EQ(seen[4].value, 5);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 0);
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), MLOS_ENOTSUP);
    /* bounded queue: refuses beyond MLOS_ED_QUEUE pending occurrences */
    setup();
    for (unsigned i = 0; i < MLOS_ED_QUEUE; i++)
        CHECK_EQ(post(&A, 10), 0);
    CHECK_EQ(post(&A, 11), MLOS_EAGAIN);
    CHECK_EQ(ed.dropped, 1);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1);
    CHECK_EQ(nseen, (int)MLOS_ED_QUEUE);
    CHECK_EQ(post(&A, 12), 0); /* room again */
    setup();
    run_loop_briefly();
    CHECK_EQ(nseen, 3);
    CHECK_EQ(seen[0].value, 100);
    CHECK_EQ(seen[0].during_post, 0);
}

static void test_message(void)
{
    uint64_t last;
    setup();
    CHECK_EQ(post(&A, 1), 0);
    CHECK_EQ(post(&A, 2), 0);
    CHECK_EQ(post(&B, 3), 0);
    CHECK_EQ(post(&A, 4), 0);
    CHECK_EQ(nseen, 0);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1);
    CHECK_EQ(nseen, 4);
    static const uint32_t src[4] = {7, 7, 9, 7}, seq[4] = {1, 2, 1, 3};
    for (int i = 0; i < 4; i++) { /* each occurrence is a frame of its own */
        CHECK_EQ(seen[i].src, src[i]);
        CHECK_EQ(seen[i].seq, seq[i]);
        CHECK_EQ(seen[i].value, i + 1);
        CHECK_EQ(seen[i].during_post, 0);
    }
    CHECK_EQ(mlos_ed_poll(&ed, &A, &last), MLOS_ENOTSUP);
    /* the payload codec refuses wrong sizes */
    uint8_t p[MLOS_ED_MSG_LEN];
    mlos_ed_msg_encode(p, 1, 2, 3);
    CHECK_EQ(mlos_ed_msg_decode(p, sizeof p - 1, NULL, NULL, NULL), MLOS_EDECODE);
    /* bounded ring: 32-byte records in a 4 KiB ring */
    setup();
    int ok = 0, rc;
    while ((rc = post(&A, 42)) == 0)
        ok++;
    CHECK_EQ(rc, MLOS_EAGAIN);
    CHECK(ok >= 64 && ok <= (int)(MLOS_ED_RING_BYTES / 32));
    CHECK_EQ(ed.dropped, 1);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1);
    CHECK_EQ(nseen, ok);
    CHECK_EQ(post(&A, 43), 0);
    setup();
    run_loop_briefly();
    CHECK_EQ(nseen, 3);
    CHECK_EQ(seen[2].value, 102);
    CHECK_EQ(seen[2].seq, 3);
}

/* Every mode: an extension at the event hook drops source 9's occurrences
 * before the mode sees them; source 7 is unaffected. */
static uint64_t drop_nine(void *ctx, size_t len, void *user)
{
    const struct mlos_hook_event_ctx *c = ctx;
    return c->kind == 9 ? MLOS_HOOK_EVENT_DROP : MLOS_HOOK_EVENT_NOW;
}

static void test_event_hook(void)
{
    uint64_t last;
    setup();
    CHECK_EQ(mlos_hook_set_native(MLOS_HOOK_EVENT, drop_nine, NULL), 0);
    CHECK_EQ(post(&B, 1), 0);
    CHECK(post(&A, 2) >= 0);
    mlos_evloop_run_nowait(&loop);
    for (int i = 0; i < nseen; i++)
        CHECK(seen[i].src != 9);
    if (!strcmp(mlos_ed_mode_name(), "coalesced"))
        CHECK_EQ(mlos_ed_poll(&ed, &B, &last), 0);
    CHECK_EQ(mlos_hook_set_native(MLOS_HOOK_EVENT, NULL, NULL), 0);
}

int main(int argc, char **argv)
{
    const char *mode = mlos_ed_mode_name();
    printf("event-delivery mode: %s\n", mode);
    if (argc > 1)
        CHECK(!strcmp(argv[1], mode)); /* the build linked the mode it says */
    if (!strcmp(mode, "immediate"))
        test_immediate();
    else if (!strcmp(mode, "coalesced"))
        test_coalesced();
    else if (!strcmp(mode, "handler"))
        test_handler();
    else if (!strcmp(mode, "message"))
        test_message();
    else
        CHECK(!"unknown mode");
    test_event_hook();
    CHECK_DONE();
}
