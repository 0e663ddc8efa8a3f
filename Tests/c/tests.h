/* The groups of C API tests, run by main() in test_scse.c. */
#ifndef SCSE_TEST_TESTS_H
#define SCSE_TEST_TESTS_H

void test_values(void);
void test_statuses(void);
void test_out_of_memory(void);

#endif
