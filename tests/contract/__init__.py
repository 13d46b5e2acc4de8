"""One contract suite for the Scheduler port (paas.domain.scheduler.Scheduler), run against every
adapter: see conftest.py for the legs and driver.py for what a leg provides."""
