"""The shipped BHOLD WSDL changed as another server's might describe itself, for the tests."""

from __future__ import annotations

from connectors.bhold.connector import WSDL

SHIPPED = WSDL.read_bytes()
RESULT_STRING = b'name="ExecuteXmlResult" type="s:string"/>'
RESULT_XML = (
    b'name="ExecuteXmlResult"><s:complexType mixed="true"><s:sequence><s:any/></s:sequence>'
    b"</s:complexType></s:element>"
)


def renamed_script_parameter(name: bytes = b"script") -> bytes:
    old = b'maxOccurs="1" name="xml">'
    assert SHIPPED.count(old) == 1
    return SHIPPED.replace(old, b'maxOccurs="1" name="' + name + b'">')


def xml_result() -> bytes:
    assert SHIPPED.count(RESULT_STRING) == 1
    return SHIPPED.replace(RESULT_STRING, RESULT_XML)


def renamed_getinfo_parameter() -> bytes:
    old = b'name="parameter1"'
    assert SHIPPED.count(old) == 1
    return SHIPPED.replace(old, b'name="param1"')


def without_execute_xml() -> bytes:
    old = (
        b'    <wsdl:operation name="ExecuteXml">\n'
        b'      <wsdl:input message="tns:ExecuteXmlSoapIn"/>\n'
        b'      <wsdl:output message="tns:ExecuteXmlSoapOut"/>\n'
        b"    </wsdl:operation>\n"
    )
    assert SHIPPED.count(old) == 1
    return SHIPPED.replace(old, b"")


def other_namespace() -> bytes:
    return SHIPPED.replace(
        b'targetNamespace="http://B1/B1ScriptService"', b'targetNamespace="http://tempuri.org/"'
    )
