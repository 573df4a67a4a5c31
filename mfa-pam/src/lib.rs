//! pam_mfa.so — PAM glue (issue #3).
