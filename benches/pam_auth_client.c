/* A minimal PAM application for benches/pam_vs_google_authenticator.py.
 *
 * usage: pam_auth_client [-s STATE -t TEMPLATE] [-k] SERVICE USER N
 *        (the code to answer on the first line of stdin)
 *
 * Runs N times pam_start -> pam_authenticate -> pam_end (a fresh handle per
 * login, as sshd has), answers every prompt with the code, and prints one
 * line of key=value figures: each login's time in microseconds (wall
 * clock, and the process's CPU time, which other load on the machine
 * disturbs less), its minor page faults, the process's RSS before the first
 * login and its peak RSS (VmHWM) at the end.
 * The first login includes loading the module (what every sshd connection
 * pays: each runs in a new process).
 *
 * -s/-t: before each login, outside the timed part, STATE is overwritten
 *        with TEMPLATE's bytes. A module that bans reuse or rate-limits
 *        rewrites its state file on every login; restoring it lets every
 *        login use the same code and start from the same file, for every
 *        module alike.
 * -k:    keep the last login's handle open (no pam_end), as sshd's child
 *        holds it for the whole session: the figures line is printed, then
 *        the process waits for EOF on stdin before ending the handle, so
 *        its memory can be read from /proc/PID/smaps_rollup meanwhile.
 */
#include <fcntl.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

static char code[64];

static int answer(int n, const struct pam_message **msg,
                  struct pam_response **resp, void *data) {
    (void)data;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (!r) return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        int style = msg[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
            r[i].resp = strdup(code);
    }
    *resp = r;
    return PAM_SUCCESS;
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) v = atol(line + strlen(key));
    fclose(f);
    return v;
}

/* TEMPLATE's bytes, read once so the restore costs one open+write. */
static char tmpl[4096];
static ssize_t tmpl_len = -1;

static int load_template(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    tmpl_len = read(fd, tmpl, sizeof tmpl);
    close(fd);
    return tmpl_len > 0 && (size_t)tmpl_len < sizeof tmpl ? 0 : -1;
}

/* Overwrite in place: the file keeps the owner and mode the module gave
 * it (both modules replace it by rename, so it is a new inode each time). */
static int restore(const char *state) {
    int fd = open(state, O_WRONLY | O_TRUNC | O_NOFOLLOW);
    if (fd < 0) return -1;
    ssize_t w = write(fd, tmpl, (size_t)tmpl_len);
    close(fd);
    return w == tmpl_len ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *state = NULL, *template = NULL;
    int keep = 0, opt;
    while ((opt = getopt(argc, argv, "s:t:k")) != -1) {
        if (opt == 's') state = optarg;
        else if (opt == 't') template = optarg;
        else if (opt == 'k') keep = 1;
        else goto usage;
    }
    if (argc - optind != 3 || !state != !template) goto usage;
    if (template && load_template(template) != 0) {
        perror(template);
        return 2;
    }
    if (!fgets(code, sizeof code, stdin)) return 2;
    code[strcspn(code, "\r\n")] = 0;
    const char *service = argv[optind], *user = argv[optind + 1];
    int n = atoi(argv[optind + 2]);
    struct pam_conv conv = {answer, NULL};
    long base = status_kb("VmRSS:");
    int failed = 0;
    pam_handle_t *h = NULL;
    int rc = PAM_SUCCESS;
    long *cpu = calloc((size_t)n + 1, sizeof *cpu), *flt = calloc((size_t)n + 1, sizeof *flt);
    if (!cpu || !flt) return 2;
    printf("us=");
    for (int i = 0; i < n; i++) {
        struct timespec a, b, ca, cb;
        struct rusage ra, rb;
        if (state && restore(state) != 0) {
            perror(state);
            return 2;
        }
        h = NULL;
        getrusage(RUSAGE_SELF, &ra);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
        clock_gettime(CLOCK_MONOTONIC, &a);
        rc = pam_start(service, user, &conv, &h);
        if (rc == PAM_SUCCESS) rc = pam_authenticate(h, 0);
        if (!(keep && i == n - 1)) pam_end(h, rc);
        clock_gettime(CLOCK_MONOTONIC, &b);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
        getrusage(RUSAGE_SELF, &rb);
        cpu[i] = (cb.tv_sec - ca.tv_sec) * 1000000L + (cb.tv_nsec - ca.tv_nsec) / 1000L;
        flt[i] = rb.ru_minflt - ra.ru_minflt;
        if (rc != PAM_SUCCESS) failed++;
        long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000L;
        printf(i ? ",%ld" : "%ld", us);
    }
    printf(" cpu_us=");
    for (int i = 0; i < n; i++) printf(i ? ",%ld" : "%ld", cpu[i]);
    printf(" minflt=");
    for (int i = 0; i < n; i++) printf(i ? ",%ld" : "%ld", flt[i]);
    printf(" failed=%d base_rss_kb=%ld peak_rss_kb=%ld\n", failed, base,
           status_kb("VmHWM:"));
    if (keep && n > 0) {
        fflush(stdout);
        while (getchar() != EOF) {
        }
        pam_end(h, rc);
    }
    return failed ? 1 : 0;
usage:
    fprintf(stderr, "usage: %s [-s STATE -t TEMPLATE] [-k] SERVICE USER N\n", argv[0]);
    return 2;
}
