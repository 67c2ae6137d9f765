from crm_common.errors import NotFound


class CustomerNotFound(NotFound):
    type = "customer-not-found"
    title = "Customer not found"
