from crm_common.events.consumer import EventConsumer

CONSUMERS: list[EventConsumer] = []
