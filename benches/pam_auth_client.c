/* A minimal PAM application for benches/pam_vs_google_authenticator.py.
 *
 * usage: pam_auth_client SERVICE USER N   (the code to answer on stdin)
 *
 * Runs N times pam_start -> pam_authenticate -> pam_end (a fresh handle per
 * login, as sshd has), answers every prompt with the code, and prints one
 * line of key=value figures: each login's time in microseconds, the
 * process's RSS before the first login and its peak RSS (VmHWM) at the end.
 * The first login includes loading the module (what every sshd connection
 * pays: each runs in a new process).
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SERVICE USER N\n", argv[0]);
        return 2;
    }
    if (!fgets(code, sizeof code, stdin)) return 2;
    code[strcspn(code, "\r\n")] = 0;
    int n = atoi(argv[3]);
    struct pam_conv conv = {answer, NULL};
    long base = status_kb("VmRSS:");
    int failed = 0;
    printf("us=");
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        pam_handle_t *h = NULL;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = pam_start(argv[1], argv[2], &conv, &h);
        if (rc == PAM_SUCCESS) rc = pam_authenticate(h, 0);
        pam_end(h, rc);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc != PAM_SUCCESS) failed++;
        long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000L;
        printf(i ? ",%ld" : "%ld", us);
    }
    printf(" failed=%d base_rss_kb=%ld peak_rss_kb=%ld\n", failed, base,
           status_kb("VmHWM:"));
    return failed ? 1 : 0;
}
