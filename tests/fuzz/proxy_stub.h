/* SPDX-License-Identifier: Apache-2.0 */
#ifndef FUZZ_PROXY_STUB_H
#define FUZZ_PROXY_STUB_H

/*
 * proxy_stub.c's knob for the harness: start attempts in this input (a pod
 * named "f..." fails every other one); the harness zeroes it per input.
 */
extern unsigned proxy_stub_start_attempts;

#endif
