"""Registration export, weekly button-test report and monthly report: pure functions over
records the console store builds from its event log."""
