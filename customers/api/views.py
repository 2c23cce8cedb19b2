from rest_framework import serializers, viewsets

from customers.models import Customer


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = (
            "id",
            "external_id",
            "name",
            "currency",
            "billing_email",
            "status",
            "created_at",
            "updated_at",
        )


class CustomerViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_fields = ["status", "currency", "external_id"]
