from crm_common.errors import NotFound


class CustomerRefNotFound(NotFound):
    type = "customer-ref-not-found"
    title = "Customer not known to feedback"
