/*
 * A fixture of the host suite's unwinder test (tests/host/test_unwind.c): x86_64 frames described by hand-written
 * CFI, assembled at test time by the x86_64 cross assembler into a PE's .eh_frame (MinGW's x86_64 compilers emit
 * SEH .pdata, not .eh_frame, so the x86_64 rules of the unwinder are exercised with the assembler's CFI). Never run.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
    .text
    .globl start
start:
    .cfi_startproc
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    subq $40, %rsp
    .cfi_adjust_cfa_offset 40
    call *%rax
    addq $40, %rsp
    .cfi_adjust_cfa_offset -40
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    ret
    .cfi_endproc

    .globl frame_pointer
frame_pointer:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    subq $64, %rsp
    .cfi_remember_state
    call *%rax
    leave
    .cfi_def_cfa %rsp, 8
    .cfi_restore %rbp
    ret
    .cfi_restore_state
    call *%rax
    leave
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
