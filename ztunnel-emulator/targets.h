/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZT_TARGETS_H
#define ZT_TARGETS_H

/* The log targets ztunnel's own lines carry; a module that logs needs no more of daemon.h. */
#define T_WM "ztunnel::inpod::workloadmanager"
#define T_SM "ztunnel::inpod::statemanager"
#define T_EMU "ztunnel_emulator"

#endif
