"""The seed tour's workflows, one module each (the seed's ``app/workflows``)."""
