/* test_hal_x86_64.c -- host side of the bare-metal x86_64 HAL test.
 *
 * Usage: test_hal_x86_64 QEMU IMAGE CASE   (CASE: basic | fault | smash | selfcheck)
 *
 * Boots hal-selftest-x86_64.elf (test/hal_selftest.c) in QEMU the way the
 * master does (master/kinds/qemu_x86_64.c): guest RAM is a memfd, the window is
 * its last MiB, the doorbell is a socketpair on COM2, the console is
 * QEMU's stdout. Checks what the guest reports through the console, the
 * window and the doorbell, and QEMU's exit code. Every path kills QEMU and
 * closes its fds; the whole run is bounded by TIMEOUT_NS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mlos.pb-c.h"
#include "kinds/qemu_x86_64.h"

#define RAM_BYTES (64u << 20)
#define WIN_BYTES (1u << 20)
#define WIN_GPA (RAM_BYTES - WIN_BYTES)
#define TIMEOUT_NS 10000000000ull
#define HOST_PAUSE_NS 300000000ull /* host waits this long before ringing */
#define CHILD_RAM_FD 3
#define CHILD_BELL_FD 4

/* Must match test/hal_selftest.c. */
#define ST_PATTERN_HEAD 0x54534554534F4C4Dull
#define ST_PATTERN_TAIL 0x4C494154534F4C4Dull
#define ST_SEEN 0x4E454553u
#define ST_RESULTS_OFF 64
#define ST_PB_OFF 1024
#define DEADLINE_WAIT_NS 250000000ull
struct st_results {
    uint64_t seen, t_ring1_ns, wake_ret, t_wake_ns, deadline_ret, deadline_ns;
    uint64_t irq_doorbell, irq_timer, pb_len, tsc_hz;
};

static int failures;
#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                                  \
            fputc('\n', stderr);                                                                           \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct run {
    pid_t pid;
    int ram_fd, bell_fd, con_fd;   /* our ends */
    uint8_t *win;
    char console[65536];
    size_t con_len;
    uint64_t t_start, t_console, bell_t[8];
    int nbells;
    int status;                    /* QEMU exit code, -1 if killed */
};

/* fork + exec QEMU with its fds at fixed numbers. Returns 0 or -1. */
static int spawn(struct run *r, char **argv, int child_ram, int child_bell, int con_w)
{
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        /* Move everything above the target numbers first so that the dup2s
         * below cannot clobber a source; dup'ed fds lose FD_CLOEXEC. */
        int ram = fcntl(child_ram, F_DUPFD, 10), bell = fcntl(child_bell, F_DUPFD, 10),
            con = fcntl(con_w, F_DUPFD, 10), nul = open("/dev/null", O_RDONLY);
        if (ram < 0 || bell < 0 || con < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(con, 1) < 0 ||
            dup2(ram, CHILD_RAM_FD) < 0 || dup2(bell, CHILD_BELL_FD) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return 0;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Reap QEMU: give it up to 2 s to exit by itself (it normally already
 * has), then kill it. Always leaves no child behind. */
static void reap(struct run *r, int force)
{
    int st;
    uint64_t t0 = now_ns();

    if (r->pid <= 0)
        return;
    if (force)
        kill(r->pid, SIGKILL);
    for (;;) {
        pid_t w = waitpid(r->pid, &st, WNOHANG);
        if (w == r->pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (w < 0 && errno != EINTR) {
            r->status = -1;
            break;
        }
        if (!force && now_ns() - t0 > 2000000000ull) {
            CHECK(0, "QEMU did not exit; killing it");
            kill(r->pid, SIGKILL);
            force = 1;
        }
        sleep_ns(5000000);
    }
    r->pid = 0;
}

/* Event loop: collect console output and doorbells until QEMU closes its
 * stdout (it exited) or the timeout. on_bell runs for each doorbell byte. */
static void pump(struct run *r, void (*on_bell)(struct run *))
{
    int con_open = 1;

    while (con_open) {
        uint64_t t = now_ns();
        if (t - r->t_start > TIMEOUT_NS) {
            CHECK(0, "timeout after %llu ms", (unsigned long long)(TIMEOUT_NS / 1000000));
            return;
        }
        struct pollfd p[2] = { { r->con_fd, POLLIN, 0 }, { r->bell_fd, POLLIN, 0 } };
        int n = poll(p, 2, 100);
        if (n < 0 && errno != EINTR) {
            CHECK(0, "poll: %s", strerror(errno));
            return;
        }
        if (p[0].revents) {
            ssize_t k = read(r->con_fd, r->console + r->con_len, sizeof(r->console) - 1 - r->con_len);
            if (k <= 0)
                con_open = 0;
            else
                r->con_len += (size_t)k;
            if (k > 0 && !r->t_console)
                r->t_console = now_ns();
            r->console[r->con_len] = '\0';
        }
        if (p[1].revents & POLLIN) {
            uint8_t buf[16];
            uint64_t when = now_ns();
            ssize_t k = read(r->bell_fd, buf, sizeof(buf));
            for (ssize_t i = 0; i < k; i++) {
                if (r->nbells < 8)
                    r->bell_t[r->nbells] = when;
                r->nbells++;
                if (on_bell)
                    on_bell(r);
            }
        } else if (p[1].revents) {
            p[1].fd = -1; /* hung up: QEMU is going away */
        }
    }
}

static uint64_t host_ring_t;

/* basic: after the first bell wait, then ring the guest once. */
static void basic_bell(struct run *r)
{
    if (r->nbells == 1) {
        sleep_ns(HOST_PAUSE_NS);
        host_ring_t = now_ns();
        CHECK(write(r->bell_fd, "x", 1) == 1, "doorbell write: %s", strerror(errno));
    }
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static void check_basic(struct run *r)
{
    const struct st_results *res = (const void *)(r->win + ST_RESULTS_OFF);
    char *p;
    int nreg = 0;

    CHECK(strstr(r->console, "mlos: x86_64 HAL up") != NULL, "no HAL banner");
    CHECK(strstr(r->console, "selftest basic: done") != NULL, "guest did not finish");
    CHECK(r->status == ((7 << 1) | 1), "QEMU exit code %d, want 15 (status 7)", r->status);
    CHECK(res->seen == ST_SEEN, "guest did not see the host's window pattern");
    CHECK(res->tsc_hz == mlos_host_tsc_hz(), "guest tsc_hz %llu != passed %llu",
          (unsigned long long)res->tsc_hz, (unsigned long long)mlos_host_tsc_hz());
    CHECK(r->nbells == 3, "%d doorbells from the guest, want 3", r->nbells);

    for (p = r->console; (p = strstr(p, "region base=")) != NULL; p++) {
        unsigned long long base, len;
        if (sscanf(p, "region base=%llx len=%llx", &base, &len) != 2)
            continue;
        nreg++;
        CHECK(!overlaps(base, len, WIN_GPA, WIN_BYTES), "region %llx+%llx overlaps the window", base, len);
        CHECK(base >= 0x100000 && base + len <= RAM_BYTES, "region %llx+%llx outside RAM above 1 MiB", base, len);
    }
    CHECK(nreg >= 1, "no regions reported");

    if (res->pb_len > 0 && res->pb_len < WIN_BYTES - ST_PB_OFF) {
        Mlos__Hello *h = mlos__hello__unpack(NULL, res->pb_len, r->win + ST_PB_OFF);
        CHECK(h && strcmp(h->arch, "x86_64") == 0 && h->shard_id == 42 && h->n_tasks == 2 && h->mem_bytes == 123456789,
              "Hello from the guest does not decode as expected");
        if (h)
            mlos__hello__free_unpacked(h, NULL);
    } else {
        CHECK(0, "guest packed no Hello (pb_len %llu)", (unsigned long long)res->pb_len);
    }

    if (r->nbells >= 3) {
        uint64_t boot = r->bell_t[0] - r->t_start;
        uint64_t rtt = r->bell_t[1] - host_ring_t;
        uint64_t host_span = r->bell_t[1] - r->bell_t[0], guest_span = res->t_wake_ns - res->t_ring1_ns;
        uint64_t host_dl = r->bell_t[2] - r->bell_t[1];
        double clk = ratio(guest_span, host_span);

        printf("boot: spawn -> first console byte %.1f ms, -> first doorbell %.1f ms\n",
               (r->t_console - r->t_start) / 1e6, boot / 1e6);
        printf("doorbell round trip (host ring -> guest wakes from HLT -> guest ring): %.1f us\n", rtt / 1e3);
        printf("guest/host clock over %.0f ms: %.4f\n", host_span / 1e6, clk);
        printf("deadline wait %.0f ms: guest measured %.2f ms, host saw %.2f ms\n", DEADLINE_WAIT_NS / 1e6,
               res->deadline_ns / 1e6, host_dl / 1e6);
        printf("guest interrupts: doorbell %llu, timer %llu\n", (unsigned long long)res->irq_doorbell,
               (unsigned long long)res->irq_timer);
        CHECK(res->wake_ret == 1, "wait after the host's ring returned %llu", (unsigned long long)res->wake_ret);
        CHECK(res->deadline_ret == 0, "wait without a ring returned %llu", (unsigned long long)res->deadline_ret);
        CHECK(clk > 0.8 && clk < 1.2, "guest clock disagrees with the host: ratio %.3f", clk);
        CHECK(res->deadline_ns >= DEADLINE_WAIT_NS && res->deadline_ns < DEADLINE_WAIT_NS * 12 / 10,
              "deadline wait took %llu ns", (unsigned long long)res->deadline_ns);
        CHECK(ratio(host_dl, DEADLINE_WAIT_NS) > 0.8 && ratio(host_dl, DEADLINE_WAIT_NS) < 1.2,
              "host saw the deadline wait take %llu ns", (unsigned long long)host_dl);
        CHECK(res->irq_doorbell >= 1, "the doorbell interrupt never fired (woke by polling?)");
        CHECK(res->irq_timer >= 1, "the LAPIC timer interrupt never fired");
    }
}

static void check_fault(struct run *r)
{
    CHECK(strstr(r->console, "CPU exception vector 14 (#PF page fault)") != NULL, "no #PF report");
    CHECK(strstr(r->console, "cr2=0x0000100000000000") != NULL, "CR2 missing from the dump");
    CHECK(strstr(r->console, "rip=0x") != NULL && strstr(r->console, "r15=0x") != NULL, "register dump incomplete");
    CHECK(r->status == 199, "QEMU exit code %d, want 199", r->status);
}

static void check_smash(struct run *r)
{
    CHECK(strstr(r->console, "mlos: stack smashing detected") != NULL, "overrun not reported");
    CHECK(r->status == ((97 << 1) | 1), "QEMU exit code %d, want 195 (status 97)", r->status);
}

/* The window is checked before HELLO even though the memory map waits
 * for after it: a malformed one is named on the console and the shard
 * exits with the protocol status, 96. */
static void check_badwindow(struct run *r)
{
    CHECK(strstr(r->console, "mlos: ignoring malformed or unmapped mlos.window") != NULL, "bad window not named");
    CHECK(strstr(r->console, "no window to the master") != NULL, "runtime did not refuse to start");
    CHECK(r->status == ((96 << 1) | 1), "QEMU exit code %d, want 193 (status 96)", r->status);
}

static void check_selfcheck(struct run *r)
{
    const char *b = strstr(r->console, "mlos: x86_64 HAL up: tsc ");
    unsigned long long hz = 0;

    CHECK(strstr(r->console, "selftest selfcheck: 0 failure(s)") != NULL, "guest self-checks failed");
    CHECK(r->status == 1, "QEMU exit code %d, want 1 (status 0)", r->status);
    /* No mlos.tsc_hz was passed: the guest calibrated against the PIT. */
    CHECK(b && sscanf(b, "mlos: x86_64 HAL up: tsc %llu", &hz) == 1, "no TSC rate in the banner");
    printf("PIT-calibrated guest TSC %llu Hz vs host %llu Hz: ratio %.4f\n", hz,
           (unsigned long long)mlos_host_tsc_hz(), ratio(hz, mlos_host_tsc_hz()));
    CHECK(ratio(hz, mlos_host_tsc_hz()) > 0.95 && ratio(hz, mlos_host_tsc_hz()) < 1.05,
          "PIT calibration off: %llu Hz", hz);
}

int main(int argc, char **argv)
{
    struct run r = { .pid = 0, .ram_fd = -1, .bell_fd = -1, .con_fd = -1, .status = -2 };
    int sv[2] = { -1, -1 }, con[2] = { -1, -1 };
    char cmdline[256], buf[4096], *qargv[64];

    if (argc != 4) {
        fprintf(stderr, "usage: %s QEMU IMAGE basic|fault|smash|selfcheck|badwindow\n", argv[0]);
        return 2;
    }
    const char *tc = argv[3];
    signal(SIGPIPE, SIG_IGN);

    r.ram_fd = memfd_create("mlos-test-ram", MFD_CLOEXEC);
    if (r.ram_fd < 0 || ftruncate(r.ram_fd, RAM_BYTES) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(con, O_CLOEXEC) < 0) {
        perror("setup");
        return 1;
    }
    r.bell_fd = sv[0];
    r.con_fd = con[0];
    r.win = mmap(NULL, WIN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, r.ram_fd, WIN_GPA);
    if (r.win == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    ((uint64_t *)r.win)[0] = ST_PATTERN_HEAD;
    ((uint64_t *)r.win)[WIN_BYTES / 8 - 1] = ST_PATTERN_TAIL;

    /* badwindow: the shard image, its window one byte off a page */
    int bad_window = strcmp(tc, "badwindow") == 0;
    int n = snprintf(cmdline, sizeof(cmdline), "mlos.window=0x%x,0x%x mlos.selftest=%s", WIN_GPA + bad_window,
                     WIN_BYTES, tc);
    if (strcmp(tc, "selfcheck") != 0) /* selfcheck exercises the PIT fallback */
        snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, " mlos.tsc_hz=%llu",
                 (unsigned long long)mlos_host_tsc_hz());
    struct mlos_qemu_x86_64_cfg cfg = { .qemu_path = argv[1], .image = argv[2], .ram_bytes = RAM_BYTES,
                                        .ram_fd = CHILD_RAM_FD, .doorbell_fd = CHILD_BELL_FD,
                                        .cmdline = cmdline, .kvm = 0 };
    if (mlos_qemu_x86_64_argv(&cfg, qargv, 64, buf, sizeof(buf)) < 0) {
        fprintf(stderr, "mlos_qemu_x86_64_argv failed\n");
        return 1;
    }

    mlos_host_tsc_hz(); /* measure before timing the boot */
    r.t_start = now_ns();
    if (spawn(&r, qargv, r.ram_fd, sv[1], con[1]) < 0) {
        perror("fork");
        return 1;
    }
    close(sv[1]);
    close(con[1]);

    pump(&r, strcmp(tc, "basic") == 0 ? basic_bell : NULL);
    reap(&r, failures > 0); /* pump failed (timeout): kill at once */

    fputs("---- guest console ----\n", stdout);
    fputs(r.console, stdout);
    fputs("-----------------------\n", stdout);
    if (strcmp(tc, "basic") == 0)
        check_basic(&r);
    else if (strcmp(tc, "fault") == 0)
        check_fault(&r);
    else if (strcmp(tc, "smash") == 0)
        check_smash(&r);
    else if (strcmp(tc, "selfcheck") == 0)
        check_selfcheck(&r);
    else if (bad_window)
        check_badwindow(&r);
    else
        CHECK(0, "unknown case %s", tc);

    munmap(r.win, WIN_BYTES);
    close(r.ram_fd);
    close(r.bell_fd);
    close(r.con_fd);
    printf("%s: %s\n", tc, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
