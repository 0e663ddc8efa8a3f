/* The groups of the hostile-input C tests, run by test_reliability_main.c. */
#ifndef SCSE_TEST_RELIABILITY_TESTS_H
#define SCSE_TEST_RELIABILITY_TESTS_H

void test_arguments(void);
void test_huge_thread_count(void);
void test_aliasing(void);
void test_in_place_sharing(void);
void test_unaligned(void);
void test_many_positions(void);
void test_concurrent_calls(void);

#endif
